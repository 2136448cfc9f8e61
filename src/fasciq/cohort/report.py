"""The cohort HTML report: one self-contained page, figures inline, readable offline."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from fasciq._atomic import write_text_atomic
from fasciq._version import __version__
from fasciq.cohort.figures import effects_forest, rate_table, trajectories
from fasciq.cohort.stats import LongitudinalFit

DISCLAIMER = (
    "These are research measurements and statistical associations, not diagnoses. "
    "FP frequency alone neither establishes nor predicts the course of a disease; read "
    "the intervals, not only the estimates."
)

TRANSFORM_NOTES = {
    "log1p": "FP/min was modelled as log(FP/min + 1): rates are positive, skewed and spread "
    "over orders of magnitude between people, count noise grows with the rate, and effects "
    "are multiplicative; the + 1 keeps recordings without FPs. Effects are reported as ratios "
    "(and % per month), back-transformed from the log scale.",
    "sqrt": "FP/min was modelled on the square-root scale (variance-stabilising for Poisson "
    "counts); effects are differences in √(FP/min) and have no ratio reading.",
}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}g}"
    return str(value)


def _p(value: Any) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def build_context(
    fit: LongitudinalFit, recordings: pd.DataFrame, source: str | None = None
) -> dict[str, Any]:
    """Everything the template shows (numbers formatted, figures as ``data:`` URIs)."""
    from fasciq.report.figures import figure_uri

    status = recordings["status"] if "status" in recordings else pd.Series(dtype=str)
    n_failed = int((status != "done").sum()) if len(status) else 0
    numbers = [
        {
            "key": "n_subjects",
            "value": fit.n_subjects,
            "text": str(fit.n_subjects),
            "label": "subjects",
        },
        {
            "key": "n_recordings",
            "value": fit.n_recordings,
            "text": str(fit.n_recordings),
            "label": "recordings modelled",
        },
        {
            "key": "n_not_analysed",
            "value": n_failed,
            "text": str(n_failed),
            "label": "recordings not analysed",
        },
        {
            "key": "median_fp_per_min",
            "value": float(fit.data["fp_per_min"].median()),
            "text": _num(float(fit.data["fp_per_min"].median())),
            "label": "median FP/min",
        },
    ]
    effects = [
        {
            "kind": r["kind"],
            "label": r["label"],
            "effect": _num(r["effect"]),
            "ci": f"{_num(r['effect_low'])} to {_num(r['effect_high'])}",
            "unit": r["unit"],
            "p": _p(r["p"]),
            "supported": bool(r["supported"]),
        }
        for _, r in fit.effects.iterrows()
    ]
    coefficients = [
        {
            "term": r["term"],
            "estimate": _num(r["estimate"]),
            "se": _num(r["se"]),
            "ci": f"{_num(r['ci_low'])} to {_num(r['ci_high'])}",
            "p": _p(r["p"]),
        }
        for _, r in fit.coefficients.iterrows()
    ]
    rates = [
        {
            "group": r.group,
            "muscle": r.muscle,
            "time": _num(float(r.time), 3),
            "count": int(r.count),
            "median": _num(float(r.median)),
        }
        for r in rate_table(fit).itertuples(index=False)
    ]
    failed = []
    if n_failed:
        cols = [c for c in ("recording_id", "status", "error") if c in recordings]
        failed = recordings.loc[status != "done", cols].fillna("").to_dict(orient="records")
    figures = {
        "trajectories": figure_uri(trajectories(fit)),
        "forest": figure_uri(effects_forest(fit)),
    }
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "version": __version__,
        "source": source or "",
        "disclaimer": DISCLAIMER,
        "numbers": numbers,
        "statements": fit.statements,
        "effects": effects,
        "coefficients": coefficients,
        "rates": rates,
        "failed": failed,
        "figures": figures,
        "formula": fit.formula,
        "random_effects": fit.random_effects,
        "transform": fit.params.transform,
        "transform_note": TRANSFORM_NOTES[fit.params.transform],
        "time_from": fit.time_from,
        "model_text": fit.model_text,
    }


def render_cohort_report(
    fit: LongitudinalFit, recordings: pd.DataFrame, source: str | None = None
) -> str:
    """The report as an HTML string."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fasciq.cohort", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("cohort.html.j2").render(**build_context(fit, recordings, source))


def write_cohort_report(
    fit: LongitudinalFit,
    recordings: pd.DataFrame,
    path: str | os.PathLike[str],
    overwrite: bool = False,
) -> Path:
    """Write the cohort report to ``path`` atomically.

    Parameters
    ----------
    fit : LongitudinalFit
        From :func:`fasciq.cohort.stats.fit_longitudinal`.
    recordings : DataFrame
        The catalogue's ``recordings`` table (for the not-analysed list).
    path : path
        HTML file to write.
    overwrite : bool
        Replace an existing file.
    """
    path = Path(path)
    html = render_cohort_report(fit, recordings, source=str(path.parent))
    return write_text_atomic(path, html, overwrite=overwrite)


__all__ = ["build_context", "render_cohort_report", "write_cohort_report"]
