import numpy as np

from fasciq.detect.activity import dense_spans, merge_spans, train_spans
from fasciq.detect.params import ActivityParams


def test_dense_spans_need_duration():
    level = np.ones(40)
    level[10] = 3.0  # one loud window: not voluntary
    level[20:26] = 2.0  # 3 s of dense activity
    spans = dense_spans(level / 1.5, 0.5, ActivityParams(pad_s=0.0), duration_s=20.0)
    assert np.allclose(spans, [[10.0, 13.0]])


def test_regular_train_found_sporadic_fps_kept():
    rng = np.random.default_rng(0)
    train = 30.0 + np.cumsum(rng.normal(0.1, 0.008, 40))  # 10 Hz for 4 s
    fps = np.sort(rng.uniform(0, 60, 400))  # 400/min Poisson, same channel & size
    fps = fps[(fps < 29.5) | (fps > 35)]
    times = np.concatenate([train, fps])
    order = np.argsort(times)
    chans = np.concatenate([np.full(train.size, 3), rng.integers(0, 2, fps.size) + 3])[order]
    amps = np.concatenate([np.full(train.size, 80.0), rng.uniform(70, 90, fps.size)])[order]
    adj = np.zeros((8, 8), dtype=bool)
    adj[3, 4] = adj[4, 3] = True
    spans = train_spans(times[order], chans, amps, adj)
    covered = sum(b - a for a, b in spans)
    assert len(spans) >= 1
    assert spans[0][0] <= train[0] + 1e-9 and spans[-1][1] >= train[-1] - 1e-9
    assert covered < 5.0  # the sporadic FPs around do not extend it much


def test_merge_spans():
    assert np.allclose(merge_spans([[0, 1], [0.5, 2], [2.2, 3]], gap=0.3), [[0, 3]])


def test_coherence_separates_dense_activity_from_noise_and_sparse_fps():
    from fasciq.detect.activity import window_coherence
    from fasciq.grids import Grid

    rng = np.random.default_rng(1)
    adj = Grid.regular(4, 4, 8).adjacency()
    n = 4000
    noise = rng.normal(0, 1, (n, 16))
    sparse = noise.copy()
    sparse[::100] += 50 * rng.normal(size=16)[None, :]  # large FPs on 1 % of samples
    common = rng.normal(0, 1, (n, 1))
    dense = noise + 2 * common  # many units: correlated neighbours
    c = [window_coherence(v, 1000, adj) for v in (noise, sparse, dense)]
    assert np.abs(c[0]).max() < 0.1 and np.abs(c[1]).max() < 0.1
    assert c[2].min() > 0.5
