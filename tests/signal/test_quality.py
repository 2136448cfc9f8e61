import numpy as np

from fasciq.grids import Grid
from fasciq.signal.quality import channel_quality

FS = 2048.0


def test_flags_each_kind_and_spares_common_line():
    rng = np.random.default_rng(0)
    n = int(10 * FS)
    t = np.arange(n) / FS
    x = rng.normal(0, 5, (n, 16)) + 20 * np.sin(2 * np.pi * 50 * t)[:, None]
    x[:, 1] = 0.01 * rng.normal(size=n)  # flat
    x[:, 2] = np.clip(x[:, 2] * 100, -300, 300)  # saturated
    x[:, 3] += 500 * np.sin(2 * np.pi * 50 * t)  # disconnected: line-dominated
    x[:, 4] = rng.normal(0, 60, n)  # much noisier than its neighbours
    flags = channel_quality(x, FS, adjacency=Grid.regular(4, 4, 8).adjacency(), line_freq=50.0)
    assert flags[1] == ["flat"]
    assert "saturated" in flags[2]
    assert "line-dominated" in flags[3]
    assert flags[4] == ["noisy"]
    good = [f for i, f in enumerate(flags) if i not in (1, 2, 3, 4)]
    assert all(f == [] for f in good)  # a 20 µV line on every channel condemns none


def test_threads_give_the_same_flags():
    # 40 channels: three blocks measured side by side, each with a bad channel
    rng = np.random.default_rng(2)
    n = int(4 * FS)
    t = np.arange(n) / FS
    x = rng.normal(0, 5, (n, 40)) + 20 * np.sin(2 * np.pi * 50 * t)[:, None]
    x[:, 5] = 0.01 * rng.normal(size=n)  # flat
    x[:, 20] = np.clip(x[:, 20] * 100, -300, 300)  # saturated
    x[:, 37] = rng.normal(0, 60, n)  # noisy
    adjacency = Grid.regular(5, 8, 8).adjacency()
    one = channel_quality(x, FS, adjacency=adjacency, line_freq=50.0)
    two = channel_quality(x, FS, adjacency=adjacency, line_freq=50.0, n_jobs=2)
    assert one == two
    assert one[5] == ["flat"] and "saturated" in one[20] and one[37] == ["noisy"]
    assert sum(bool(f) for f in one) == 3
