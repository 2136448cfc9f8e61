"""The detector's fast internals give exactly what their plain definitions give.

Each helper is compared with a direct, slow transcription of what its
docstring promises, on seeded data with planted discharges.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fasciq.detect.detector import (
    Neighbourhood,
    _Footprints,
    _near_larger,
    _nonzero_2d,
    _reach,
    coherent_candidates,
)
from fasciq.detect.params import DetectParams
from fasciq.grids import Grid

FS = 2048.0


def _grid_hood(rows: int = 8, cols: int = 8) -> Neighbourhood:
    grid = Grid.regular(rows, cols, 8.0)
    return Neighbourhood(grid.adjacency(diagonal=True), np.asarray(grid.positions_mm))


def _reference_footprint(amax, start, adjacency, k_low):
    active = amax >= k_low
    seen = {start}
    frontier = [start]
    while frontier:
        nxt = []
        for ch in frontier:
            for nb in np.flatnonzero(adjacency[ch]):
                if active[nb] and nb not in seen:
                    seen.add(int(nb))
                    nxt.append(int(nb))
        frontier = nxt
    out = np.zeros(len(amax), dtype=bool)
    out[list(seen)] = True
    return out


@pytest.mark.parametrize("shape", [(8, 8), (13, 10)])
def test_footprints_match_a_plain_search(shape):
    hood = _grid_hood(*shape)
    n_ch = hood.n_channels
    foot = _Footprints(hood.adjacency)
    rng = np.random.default_rng(n_ch)
    sizes = []
    for i in range(300):
        amax = np.abs(rng.normal(0, rng.uniform(1, 5), n_ch))
        start = i % n_ch
        ours = foot(amax, start, 3.0)
        ref = _reference_footprint(amax, start, hood.adjacency, 3.0)
        assert np.array_equal(ours, ref)
        sizes.append(ref.sum())
    # the cases span lone channels to most of the grid (130 channels: 17-byte masks)
    assert min(sizes) == 1 and max(sizes) > n_ch // 2


def test_nonzero_2d_matches_numpy():
    rng = np.random.default_rng(3)
    mask = rng.random((700, 63)) > 0.97
    r, c = _nonzero_2d(mask)
    rr, cc = np.nonzero(mask)
    assert np.array_equal(r, rr) and np.array_equal(c, cc)
    assert _nonzero_2d(np.zeros((4, 0), dtype=bool))[0].size == 0


def _reference_near_larger(cand, weak, a, adj_plus, reach, span, loud, now):
    n = cand.shape[0]
    strong = cand.any(axis=1)
    near = ndimage.maximum_filter1d(strong.view(np.uint8), 2 * span + 1) > 0
    out = np.zeros_like(weak)
    loud_now = ndimage.maximum_filter1d(loud.view(np.uint8), 2 * now + 1) > 0
    out[loud_now] = weak[loud_now]
    score = np.where(cand, a, 0.0).max(axis=1)
    largest = strong & (score >= ndimage.maximum_filter1d(score, 2 * (span // 2) + 1))
    for r in np.flatnonzero(weak.any(axis=1) & near & ~loud_now):
        for s in range(max(0, r - span), min(n, r + span + 1)):
            if not strong[s]:
                continue
            # on or next to the larger discharge's own candidates
            beside = (cand[s][:, None] & adj_plus).any(axis=0)
            out[r] |= weak[r] & beside
            if largest[s]:
                ch = int(np.argmax(np.where(cand[s], a[s], -1.0)))
                out[r] |= weak[r] & (reach[ch] >= abs(s - r))
    return out


def test_near_larger_matches_its_definition():
    hood = _grid_hood()
    params = DetectParams()
    n, n_ch = 6000, hood.n_channels
    rng = np.random.default_rng(11)
    a = np.abs(rng.normal(0, 1.0, (n, n_ch))).astype(np.float32)
    cand = np.zeros((n, n_ch), dtype=bool)
    weak = np.zeros((n, n_ch), dtype=bool)
    for t in rng.integers(50, n - 50, 40):  # larger discharges over a few channels
        chans = rng.choice(n_ch, 4, replace=False)
        a[t, chans] = rng.uniform(6, 30, 4)
        cand[t, chans] = True
    for t in rng.integers(0, n, 300):  # weak candidates everywhere, some near them
        ch = rng.integers(0, n_ch)
        weak[t, ch] = True
    loud = (a >= 25).any(axis=1)
    adj_plus = hood.adjacency | np.eye(n_ch, dtype=bool)
    reach = _reach(hood, FS, params)
    span = 2 * round(params.max_window_ms * FS / 1000)
    now = round(params.phase_ms / 2 * FS / 1000)
    ours = _near_larger(cand, weak, a, adj_plus, reach, span, loud, now)
    ref = _reference_near_larger(cand, weak, a, adj_plus, reach, span, loud, now)
    assert np.array_equal(ours, ref)
    # a real mixture: some weak candidates are parts of larger ones, most are not
    assert 0 < ours.sum() < weak.sum()


def _reference_coherent(x, sigma, adjacency, fs, params, a):
    n_ch = x.shape[1]
    clip = params.k_peak_energy
    z = np.clip(x / sigma, -clip, clip).astype(np.float32)
    z -= np.median(z, axis=1, keepdims=True)
    adj_plus = (adjacency | np.eye(n_ch, dtype=bool)).astype(np.float32)
    total = ndimage.uniform_filter1d(z @ adj_plus, round(params.coherent_ms * fs / 1000), axis=0)
    spread = np.median(np.abs(total[::4]), axis=0) * 1.4826
    stat = np.abs(total) / spread
    half = max(1, round(params.support_ms * fs / 1000))
    own = ndimage.maximum_filter1d((a >= params.k_low).view(np.uint8), 2 * half + 1, axis=0) > 0
    return (stat >= params.k_coherent) & own


def test_coherent_candidates_match_their_definition():
    hood = _grid_hood()
    n, n_ch = int(4 * FS), hood.n_channels
    rng = np.random.default_rng(5)
    x = rng.normal(0, 5.0, (n, n_ch)).astype(np.float32)
    # small broad MUAPs: a 3-ms wave, same sign over a patch of electrodes
    wave = np.sin(np.linspace(0, np.pi, 7)).astype(np.float32)
    for t in rng.integers(100, n - 100, 30):
        centre = rng.integers(0, n_ch)
        patch = np.flatnonzero(hood.adjacency[centre]) if rng.random() < 0.7 else [centre]
        x[t : t + 7, patch] += 14.0 * wave[:, None]
    sigma = np.full_like(x, 5.0)
    a = np.abs(x) / sigma
    params = DetectParams()
    ours = coherent_candidates(x, sigma, hood.adjacency, FS, params, a)
    ref = _reference_coherent(x, sigma, hood.adjacency, FS, params, a)
    assert ours.sum() > 50
    # float32 sums in another order may differ in the last bit: at most a
    # handful of marks sitting exactly on the threshold can flip
    assert (ours != ref).sum() <= 2
