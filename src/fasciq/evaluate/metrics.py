"""Detection metrics of a fasciq result against a reference.

Definitions (all documented in ``fasciq evaluate --help``):

* A detected FP and a reference FP match when their times differ by at most
  the tolerance (10 ms against simulator truth, whose times are the MUAP's
  largest peak; 25 ms against human marks), one to one (:func:`match_events`).
* Reference FPs inside the reference's voluntary epochs are not expected (the
  muscle is not at rest there) and are left out. Detections inside those
  epochs count as false positives.
* ``sensitivity`` = matched / reference FPs at rest; ``sensitivity_analysed``
  counts only reference FPs inside the time the result analysed, separating
  detection quality from time lost to exclusion.
* ``precision`` = matched / detections; ``f1`` their harmonic mean.
* ``median_timing_error_ms``: median |detected − reference| time of the
  matched pairs; ``timing_bias_ms``: their signed median (detected −
  reference), a systematic offset between the two conventions of an FP's
  time (for example marks set at the onset rather than at the peak).
* ``rate_error`` = (reported FP/min − reference FP/min at rest) / reference FP/min.
* ``voluntary_excluded_fraction``: share of the voluntary epochs that the
  result excluded; ``rest_lost_fraction``: share of the rest time excluded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq.errors import FormatError
from fasciq.evaluate.matching import match_events
from fasciq.evaluate.truth import Truth, load_truth
from fasciq.intervals import inside, overlap_length, total_length
from fasciq.validate import check_file_exists, check_positive


@dataclass(frozen=True)
class EvaluationParams:
    """How detections are matched to the reference.

    Parameters
    ----------
    tolerance_s : float or None
        Matching window; ``None`` picks the reference kind's default
        (10 ms for simulator truth, 25 ms for human marks).
    """

    tolerance_s: float | None = None

    def __post_init__(self) -> None:
        if self.tolerance_s is not None:
            check_positive(self.tolerance_s, "tolerance_s")


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def evaluate(
    detected_s: np.ndarray,
    excluded: list[tuple[float, float]],
    analysed_s: float,
    reported_fp_per_min: float | None,
    truth: Truth,
    params: EvaluationParams | None = None,
    detected_units: np.ndarray | None = None,
) -> dict[str, Any]:
    """Compare detections with a reference.

    Parameters
    ----------
    detected_s : array
        Times of the detected FPs (s).
    excluded : list of (start_s, end_s)
        Spans the result did not analyse.
    analysed_s : float
        Time the result analysed (s).
    reported_fp_per_min : float or None
        The rate the result reports (computed from the detections if None).
    truth : Truth
        The reference.
    params : EvaluationParams, optional
        Matching settings.
    detected_units : array of int, optional
        Unit label of each detection, for sorting metrics.

    Returns
    -------
    dict
        JSON-ready metrics (see the module docstring for definitions).
    """
    params = params or EvaluationParams()
    tol = params.tolerance_s if params.tolerance_s is not None else truth.default_tolerance_s
    det = np.asarray(detected_s, dtype=np.float64)
    rest_mask = ~inside(truth.times_s, truth.voluntary_epochs)
    ref = truth.times_s[rest_mask]
    matching = match_events(det, ref, tol)
    tp, fp, fn = matching.true_positives, matching.false_positives, matching.false_negatives
    sensitivity = _ratio(tp, len(ref))
    precision = _ratio(tp, len(det))
    f1 = None
    if sensitivity is not None and precision is not None and (sensitivity + precision) > 0:
        f1 = 2 * sensitivity * precision / (sensitivity + precision)
    elif len(ref) == 0 and len(det) == 0:
        f1 = 1.0

    ref_analysed = ~inside(ref, excluded)
    matched_ref = np.zeros(len(ref), dtype=bool)
    matched_ref[matching.truth_index] = True
    sens_analysed = _ratio(int((matched_ref & ref_analysed).sum()), int(ref_analysed.sum()))

    duration = truth.duration_s
    voluntary_s = total_length(truth.voluntary_epochs)
    out: dict[str, Any] = {
        "reference": truth.source,
        "reference_kind": truth.kind,
        "tolerance_ms": tol * 1e3,
        "n_detected": len(det),
        "n_reference": len(ref),
        "n_reference_in_voluntary": int((~rest_mask).sum()),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "sensitivity": sensitivity,
        "sensitivity_analysed": sens_analysed,
        "precision": precision,
        "f1": f1,
        "median_timing_error_ms": (
            float(np.median(np.abs(matching.delta_s)) * 1e3) if tp else None
        ),
        "timing_bias_ms": float(np.median(matching.delta_s) * 1e3) if tp else None,
        "false_fp_per_min": _ratio(fp * 60.0, analysed_s),
        "analysed_s": float(analysed_s),
        "excluded_s": total_length(excluded),
        "voluntary_s": voluntary_s,
    }
    if duration is not None:
        rest_s = duration - voluntary_s
        excluded_in_vol = overlap_length(excluded, truth.voluntary_epochs)
        rest_lost = total_length(excluded) - excluded_in_vol
        true_rate = _ratio(len(ref) * 60.0, rest_s)
        reported = (
            reported_fp_per_min
            if reported_fp_per_min is not None
            else _ratio(len(det) * 60.0, analysed_s)
        )
        out.update(
            {
                "duration_s": duration,
                "rest_s": rest_s,
                "reference_fp_per_min": true_rate,
                "reported_fp_per_min": reported,
                "rate_error": (
                    None
                    if not true_rate or reported is None
                    else (reported - true_rate) / true_rate
                ),
                "voluntary_excluded_s": excluded_in_vol,
                "voluntary_excluded_fraction": _ratio(excluded_in_vol, voluntary_s),
                "rest_lost_s": rest_lost,
                "rest_lost_fraction": _ratio(rest_lost, rest_s),
            }
        )
    if detected_units is not None and truth.units is not None and tp:
        from fasciq.evaluate.sorting import sorting_metrics

        out["sorting"] = sorting_metrics(
            np.asarray(detected_units)[matching.detected_index],
            truth.units[rest_mask][matching.truth_index],
        )
    return out


def as_truth(truth: Any) -> Truth:
    """Accept a :class:`Truth`, a simulator truth object or a path to a reference file."""
    if isinstance(truth, Truth):
        return truth
    if hasattr(truth, "discharges") and hasattr(truth, "voluntary_epochs"):
        return Truth.from_simulation(truth)
    return load_truth(truth)


def evaluate_result(
    result: Any, truth: Truth | str | PathLike[str], params: EvaluationParams | None = None
) -> dict[str, Any]:
    """Evaluate a :class:`~fasciq.result.Result` (or anything with the same tables)."""
    truth = as_truth(truth)
    fps = result.fasciculations
    excl = result.excluded
    summary = result.summary
    spans = list(zip(excl["start_s"].astype(float), excl["end_s"].astype(float), strict=True))
    units = fps["unit"].to_numpy() if "unit" in fps.columns else None
    return evaluate(
        fps["time_s"].to_numpy(dtype=np.float64),
        spans,
        float(summary["analysed_s"]),
        summary.get("fp_per_min"),
        truth,
        params,
        detected_units=units,
    )


@dataclass
class _Tables:
    fasciculations: Any
    excluded: Any
    summary: dict[str, Any]


def evaluate_outdir(
    outdir: str | PathLike[str],
    truth: Truth | str | PathLike[str],
    params: EvaluationParams | None = None,
) -> dict[str, Any]:
    """Evaluate the files written by ``fasciq analyze`` in ``outdir``."""
    import pandas as pd

    out = check_file_exists(outdir)
    files = {name: out / name for name in ("fasciculations.csv", "excluded.csv", "summary.json")}
    for name, f in files.items():
        if not f.exists():
            raise FormatError(
                f"{name} is missing: this is not a complete fasciq analysis folder",
                fix="run fasciq analyze RECORDING -o OUTDIR first",
                source=out,
            )
    try:
        tables = _Tables(
            pd.read_csv(files["fasciculations.csv"]),
            pd.read_csv(files["excluded.csv"]),
            json.loads(files["summary.json"].read_text(encoding="utf-8")),
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise FormatError(
            f"cannot read the analysis results: {exc}",
            fix="re-run fasciq analyze with --overwrite",
            source=out,
        ) from exc
    metrics = evaluate_result(tables, truth, params)
    metrics["outdir"] = str(Path(out))
    metrics["params"] = asdict(params or EvaluationParams())
    return metrics
