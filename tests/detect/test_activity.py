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


def test_dense_span_needs_a_regular_train_to_be_voluntary():
    from fasciq.detect.activity import regular_dense

    dense = np.array([[10.0, 20.0], [40.0, 50.0], [70.0, 71.0]])
    trains = [np.array([[12.0, 14.0]]), np.array([[50.3, 52.0]])]
    kept = regular_dense(dense, trains, ActivityParams(join_s=0.5))
    # the first overlaps a train, the second has one within join_s, the third none
    assert np.allclose(kept, [[10.0, 20.0], [40.0, 50.0]])
    assert regular_dense(dense, [], ActivityParams()).shape == (0, 2)
    off = ActivityParams(require_trains=False)
    assert np.allclose(regular_dense(dense, [], off), dense)


def test_kurtosis_tells_sparse_storm_from_interference_pattern():
    from fasciq.detect.activity import regular_dense, window_kurtosis

    rng = np.random.default_rng(3)
    n, win = 8000, 1000
    noise = rng.normal(0, 1, (n, 8))
    spikes = noise.copy()
    idx = rng.choice(n, 60, replace=False)
    spikes[idx] += rng.normal(0, 20, (60, 8))  # sparse large events
    k_noise = window_kurtosis(noise, win)
    k_sparse = window_kurtosis(spikes, win)
    assert np.all(np.abs(k_noise - 3.0) < 0.6)
    assert np.median(k_sparse) > 10.0
    # a dense span without any train: voluntary only if its signal is not sparse
    dense = np.array([[0.0, 8.0]])
    params = ActivityParams()
    assert regular_dense(dense, [], params, k_noise, win / 1000.0).shape == (1, 2)
    assert regular_dense(dense, [], params, k_sparse, win / 1000.0).shape == (0, 2)


def test_filled_fraction_sums_muap_durations_per_window():
    from fasciq.detect.activity import filled_fraction

    times = np.array([0.1, 0.2, 0.3, 0.7, 1.9, 5.0, np.nan])
    durations = np.array([0.02, 0.02, 0.01, 0.05, 0.1, 0.02, 0.02])
    got = filled_fraction(times, durations, 0.5, 4)
    np.testing.assert_allclose(got, [0.1, 0.1, 0.0, 0.2])
    # sparse FPs at 400/min fill a few per cent; 40 MUAPs/s of 20 ms, most of it
    rng = np.random.default_rng(2)
    sparse = np.sort(rng.uniform(0, 60, 400))
    dense = np.sort(rng.uniform(0, 60, 2400))
    assert filled_fraction(sparse, np.full(400, 0.02), 0.5, 120).max() < 0.3
    assert np.median(filled_fraction(dense, np.full(2400, 0.02), 0.5, 120)) > 0.6
