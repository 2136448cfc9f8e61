"""Pure array functions ``(x, fs, ...) -> ...`` on ``(n_samples, n_channels)`` µV traces."""
