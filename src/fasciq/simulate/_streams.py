"""Random numbers addressed by position, so any span can be synthesised alone.

Every random quantity of a simulation that depends on time is drawn from a
generator seeded by ``(seed, stream, block index)``. Synthesising samples
``[a, b)`` therefore never depends on what was synthesised before, which is
what makes a simulated recording identical however it is read in chunks.
"""

from __future__ import annotations

import numpy as np

# stream identifiers (never reuse a number for another purpose)
POOL_FASC, POOL_VOL, FIRING, VARIANTS, SCHEDULE = 1, 2, 3, 4, 5
NOISE_CONST, WHITE, PINK, WANDER, DRIFT, LINE_DRIFT = 10, 11, 12, 13, 14, 15
ARTEFACTS, DISCONNECTED, NOISY = 20, 21, 22

_OFFSET = 2**40


def block_rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """Generator for block ``index`` of ``stream`` (``index`` may be negative)."""
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, stream, index + _OFFSET]))
    )


def stream_normal(
    seed: int, stream: int, start: int, stop: int, n_channels: int, block: int
) -> np.ndarray:
    """Standard normal values ``[start, stop)`` of an endless ``(∞, n_channels)`` stream.

    The stream is cut into blocks of ``block`` rows, each drawn from its own
    generator, so the values at a position never depend on the span asked for.
    """
    first, last = start // block, (stop - 1) // block
    parts = [
        block_rng(seed, stream, b).standard_normal((block, n_channels), dtype=np.float32)
        for b in range(first, last + 1)
    ]
    data = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    offset = start - first * block
    return data[offset : offset + (stop - start)]
