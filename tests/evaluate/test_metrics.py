import json

import numpy as np
import pandas as pd
import pytest

from fasciq.errors import FormatError
from fasciq.evaluate import evaluate, evaluate_outdir, load_truth


def _write_sim_truth(tmp_path):
    times = np.arange(1, 61, dtype=float)  # one FP per second for 60 s
    df = pd.DataFrame(
        {
            "time_s": times - 0.004,
            "peak_time_s": times,
            "unit": (np.arange(60) % 3),
            "kind": "fasciculation",
        }
    )
    vol = pd.DataFrame(
        {"time_s": [30.2, 30.3], "unit": 9, "kind": "voluntary", "peak_time_s": [30.21, 30.31]}
    )
    pd.concat([df, vol]).to_csv(tmp_path / "rec.truth.csv", index=False)
    (tmp_path / "rec.truth.json").write_text(
        json.dumps({"voluntary_epochs": [[20.5, 30.5]], "duration_s": 61.0, "bad_channels": {}})
    )
    return tmp_path / "rec.truth.csv"


def test_load_simulator_truth_uses_peaks_and_epochs(tmp_path):
    truth = load_truth(_write_sim_truth(tmp_path))
    assert truth.kind == "simulation"
    assert truth.default_tolerance_s == pytest.approx(0.010)
    assert len(truth.times_s) == 60  # voluntary discharges dropped
    assert truth.times_s[0] == 1.0
    assert truth.voluntary_epochs == [(20.5, 30.5)]
    assert truth.duration_s == 61.0


def test_metrics_known_numbers(tmp_path):
    truth = load_truth(_write_sim_truth(tmp_path))
    # reference at rest: 60 FPs minus 10 inside [20.5, 30.5) -> 50
    rest_times = truth.times_s[(truth.times_s < 20.5) | (truth.times_s >= 30.5)]
    assert len(rest_times) == 50
    det = np.concatenate([rest_times[:45] + 0.002, [40.5, 41.5]])  # 45 hits, 2 false
    excluded = [(20.0, 31.0), (55.5, 60.5)]  # 11 s covering the epoch + 5 s of rest
    analysed = 61.0 - 16.0
    m = evaluate(det, excluded, analysed, None, truth, detected_units=None)
    assert m["n_reference"] == 50
    assert m["true_positives"] == 45
    assert m["false_positives"] == 2
    assert m["sensitivity"] == pytest.approx(45 / 50)
    assert m["precision"] == pytest.approx(45 / 47)
    f1 = 2 * 0.9 * (45 / 47) / (0.9 + 45 / 47)
    assert m["f1"] == pytest.approx(f1)
    # 5 reference FPs (56..60) were inside the excluded rest span
    assert m["sensitivity_analysed"] == pytest.approx(45 / 45)
    assert m["voluntary_excluded_fraction"] == pytest.approx(1.0)
    assert m["rest_lost_s"] == pytest.approx(6.0)  # 16 excluded - 10 voluntary
    assert m["reference_fp_per_min"] == pytest.approx(50 / (51.0 / 60))
    reported = 47 * 60 / analysed
    assert m["rate_error"] == pytest.approx((reported - 50 / 0.85) / (50 / 0.85))
    assert m["median_timing_error_ms"] == pytest.approx(2.0)
    assert m["timing_bias_ms"] == pytest.approx(2.0)


def test_timing_bias_is_signed_and_differs_from_the_median_error(tmp_path):
    truth = load_truth(_write_sim_truth(tmp_path))
    rest_times = truth.times_s[(truth.times_s < 20.5) | (truth.times_s >= 30.5)]
    # 10 detections 3 ms early, 30 detections 1 ms late
    det = np.concatenate([rest_times[:10] - 0.003, rest_times[10:40] + 0.001])
    m = evaluate(det, [], 61.0, None, truth, detected_units=None)
    assert m["true_positives"] == 40
    assert m["median_timing_error_ms"] == pytest.approx(1.0)
    assert m["timing_bias_ms"] == pytest.approx(1.0)
    # mostly early: the bias is negative, the median error is its size
    det = np.concatenate([rest_times[:30] - 0.003, rest_times[30:40] + 0.001])
    m = evaluate(det, [], 61.0, None, truth, detected_units=None)
    assert m["median_timing_error_ms"] == pytest.approx(3.0)
    assert m["timing_bias_ms"] == pytest.approx(-3.0)


def test_sorting_metrics_on_matched_fps(tmp_path):
    truth = load_truth(_write_sim_truth(tmp_path))
    rest = ~((truth.times_s >= 20.5) & (truth.times_s < 30.5))
    units_true = truth.units[rest]
    perm = {0: 7, 1: 5, 2: 6}  # same partition, other labels
    det_units = np.array([perm[u] for u in units_true])
    m = evaluate(truth.times_s[rest], [], 61.0, None, truth, detected_units=det_units)
    assert m["sorting"]["ari"] == pytest.approx(1.0)
    assert m["sorting"]["n_units_found"] == 3
    det_units[:10] = -1
    m = evaluate(truth.times_s[rest], [], 61.0, None, truth, detected_units=det_units)
    assert m["sorting"]["ari"] < 1.0


def test_human_annotation_csv(tmp_path):
    p = tmp_path / "marks.csv"
    pd.DataFrame({"time_s": [1.0, 2.0, 3.0]}).to_csv(p, index=False)
    truth = load_truth(p)
    assert truth.kind == "annotation"
    assert truth.default_tolerance_s == pytest.approx(0.025)
    m = evaluate(np.array([1.02, 2.2, 3.0]), [], 10.0, None, truth)
    assert m["true_positives"] == 2
    assert "rate_error" not in m  # no duration known for plain marks


def test_bad_reference_and_outdir(tmp_path):
    p = tmp_path / "marks.csv"
    pd.DataFrame({"onset": [1.0]}).to_csv(p, index=False)
    with pytest.raises(FormatError, match="time_s"):
        load_truth(p)
    pd.DataFrame({"time_s": ["x"]}).to_csv(p, index=False)
    with pytest.raises(FormatError, match="not a number"):
        load_truth(p)
    (tmp_path / "out").mkdir()
    good = tmp_path / "good.csv"
    pd.DataFrame({"time_s": [1.0]}).to_csv(good, index=False)
    with pytest.raises(FormatError, match=r"fasciculations\.csv is missing"):
        evaluate_outdir(tmp_path / "out", good)


def test_evaluate_cli_on_contract_files(tmp_path):
    from typer.testing import CliRunner

    from fasciq.cli.app import app

    truth_csv = _write_sim_truth(tmp_path)
    out = tmp_path / "analysis"
    out.mkdir()
    pd.DataFrame(
        {"time_s": [1.001, 2.0, 3.5], "unit": -1, "channel": "ch1", "amplitude_uv": 50.0}
    ).to_csv(out / "fasciculations.csv", index=False)
    pd.DataFrame({"start_s": [20.5], "end_s": [30.5], "reason": ["voluntary"]}).to_csv(
        out / "excluded.csv", index=False
    )
    (out / "summary.json").write_text(json.dumps({"analysed_s": 51.0, "fp_per_min": 3 / 0.85}))
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", str(out), str(truth_csv), "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output.strip().splitlines()[-1])
    assert metrics["true_positives"] == 2
    assert metrics["false_positives"] == 1
    assert json.loads((out / "evaluation.json").read_text())["true_positives"] == 2
    # a second run refuses to overwrite
    res = runner.invoke(app, ["evaluate", str(out), str(truth_csv)])
    assert res.exit_code == 2
    res = runner.invoke(app, ["evaluate", str(out), str(truth_csv), "--overwrite"])
    assert res.exit_code == 0
    # 1.001 matches 1.0 and 2.0 matches 2.0: detections are 0.5 ms late in the median
    bias = [line for line in res.output.splitlines() if "timing bias" in line]
    assert len(bias) == 1 and "0.5" in bias[0], res.output


def test_simulator_truth_object_is_accepted():
    from fasciq.evaluate.metrics import as_truth
    from fasciq.simulate import simulate

    sim = simulate(preset="bfs", duration_s=8.0, grid="4x4@8", fs=2048.0, seed=3)
    truth = as_truth(sim.truth)
    fps = sim.truth.discharges[sim.truth.discharges["kind"] == "fasciculation"]
    assert truth.kind == "simulation"
    assert len(truth.times_s) == len(fps)
    np.testing.assert_allclose(truth.times_s, fps["peak_time_s"].to_numpy())
    assert truth.duration_s == pytest.approx(8.0)
