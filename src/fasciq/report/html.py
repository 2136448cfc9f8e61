"""The self-contained HTML report of one analysis.

Everything the page needs is inside the one file: styles inline, figures as
``data:`` URIs, no scripts and no external references, so it opens offline in
any browser and can be mailed or archived as it is. Key numbers carry a
``data-key`` attribute (and their exact value in ``data-value``) so that
tools and tests can read them back.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from os import PathLike
from pathlib import Path
from typing import Any

import jinja2

from fasciq._atomic import write_text_atomic
from fasciq._logging import logger
from fasciq._version import __version__
from fasciq.errors import FasciqError
from fasciq.grids.grid import Grid
from fasciq.plot._base import reason_colour
from fasciq.recording import Recording
from fasciq.report.figures import example_fps, overview_figures, unit_gallery
from fasciq.report.outputs import AnalysisOutputs, load_outputs

REPORT_NAME = "report.html"

DISCLAIMER = (
    "This is a research measurement, not a diagnosis. Fasciculations are common in "
    "healthy people, and their frequency alone predicts nothing about the presence "
    "or course of a disease. Interpret these numbers together with the clinical "
    "picture and, over time, against the spread of a cohort."
)


def _number(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def format_number(value: Any, digits: int | None = None) -> str:
    """Display text of a key number (``"n/a"`` when unknown).

    Without ``digits``: integers as they are; rates with two decimals below
    10 and one above.
    """
    v = _number(value)
    if v is None:
        return "n/a"
    if digits is None:
        if float(v).is_integer() and abs(v) >= 10:
            return f"{int(v):,}".replace(",", "\u202f")
        digits = 2 if abs(v) < 10 else 1
    return f"{v:.{digits}f}"


def _count_of(value: Any) -> tuple[Any, str | None]:
    """Count and optional detail from a summary entry that is a number or a dict."""
    if isinstance(value, dict):
        for key in ("n", "count", "total"):
            if key in value:
                pct = value.get("percent", value.get("fraction"))
                detail = None
                if _number(pct) is not None:
                    p = float(pct) * (100 if "fraction" in value and "percent" not in value else 1)
                    detail = f"{p:.1f} % of FPs"
                return value[key], detail
        return None, None
    return value, None


def _duration_text(seconds: Any) -> str:
    v = _number(seconds)
    if v is None:
        return "n/a"
    if v >= 120:
        return f"{v / 60:.1f} min"
    return f"{v:.1f} s"


def key_numbers(out: AnalysisOutputs) -> list[dict[str, Any]]:
    """The headline numbers with their exact values and display text."""
    s = out.summary
    ci = s.get("fp_per_min_ci95")
    ci_ok = (
        isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_number(c) is not None for c in ci)
    )
    # sorting ran when FPs carry unit ids or units.csv exists; a bare n_units of 0
    # without either means FPs were never grouped
    sorted_ = out.has_units or out.units is not None
    cards: list[dict[str, Any]] = [
        {
            "key": "fp_per_min",
            "label": "FPs per minute",
            "value": s.get("fp_per_min"),
            "text": format_number(s.get("fp_per_min")),
            "sub": (
                {
                    "key": "fp_per_min_ci95",
                    "value": list(ci),
                    "text": f"95 % CI {format_number(ci[0])}–{format_number(ci[1])}",
                }
                if ci_ok
                else None
            ),
            "note": "of analysed time",
        },
        {
            "key": "n_fp",
            "label": "FPs detected",
            "value": s.get("n_fp"),
            "text": format_number(s.get("n_fp"), 0),
            "note": f"in {_duration_text(s.get('analysed_s'))} analysed",
        },
        {
            "key": "n_units",
            "label": "motor units",
            "value": s.get("n_units") if sorted_ else None,
            "text": format_number(s.get("n_units"), 0) if sorted_ else "n/a",
            "note": "putative, fasciculating" if sorted_ else "sorting has not run",
        },
    ]
    for key, label in (
        ("doublets", "doublets"),
        ("isolated", "isolated discharges"),
        ("continual", "continual discharges"),
    ):
        count, detail = _count_of(s.get(key))
        cards.append(
            {
                "key": key,
                "label": label,
                "value": count,
                "text": format_number(count, 0),
                "note": detail or ("sorting has not run" if count is None else ""),
            }
        )
    cards.append(
        {
            "key": "analysed_s",
            "label": "analysed",
            "value": s.get("analysed_s"),
            "text": format_number(s.get("analysed_s"), 1),
            "unit": "s",
            "note": _duration_text(s.get("analysed_s")),
        }
    )
    cards.append(
        {
            "key": "excluded_s",
            "label": "excluded",
            "value": s.get("excluded_s"),
            "text": format_number(s.get("excluded_s"), 1),
            "unit": "s",
            "note": _duration_text(s.get("excluded_s")),
        }
    )
    for card in cards:
        card["json"] = json.dumps(card["value"])
        if card.get("sub"):
            card["sub"]["json"] = json.dumps(card["sub"]["value"])
    return cards


def excluded_by_reason(out: AnalysisOutputs) -> list[dict[str, Any]]:
    """Seconds excluded per reason, with the reason's colour."""
    ex = out.excluded
    if not len(ex):
        return []
    dur = (ex["end_s"] - ex["start_s"]).clip(lower=0)
    table = dur.groupby(ex["reason"]).agg(["sum", "count"])
    return [
        {
            "reason": str(reason),
            "seconds": float(row["sum"]),
            "text": _duration_text(row["sum"]),
            "count": int(row["count"]),
            "colour": reason_colour(str(reason)),
        }
        for reason, row in table.sort_values("sum", ascending=False).iterrows()
    ]


def _header(out: AnalysisOutputs, grid: Grid | None) -> dict[str, Any]:
    info = out.recording_info
    meta = info.get("metadata") or {}
    source = info.get("source")
    fs = _number(info.get("fs"))
    rows: list[tuple[str, str]] = [
        ("recording", Path(source).name if source else "in memory"),
        ("format", str(info.get("format") or "n/a")),
        ("channels", str(info.get("n_channels") or len(out.channels) or "n/a")),
        ("sampling rate", f"{fs:g} Hz" if fs else "n/a"),
        ("duration", _duration_text(info.get("duration_s") or out.duration_s)),
    ]
    if grid is not None:
        rows.append(("grid", f"{grid.name} ({grid.rows}×{grid.cols}, {grid.ied_mm:g} mm)"))
    else:
        gdesc = info.get("grid")
        rows.append(("grid", str(gdesc.get("name")) if isinstance(gdesc, dict) else "none"))
    line = _number(out.summary.get("line_freq_hz"))
    rows.append(("line noise", f"{line:g} Hz" if line else "not detected"))
    people = []
    for key in ("subject", "session", "muscle", "side", "start_time"):
        if meta.get(key):
            people.append((key.replace("_", " "), str(meta[key])))
    exposures = meta.get("exposures") or []
    if isinstance(exposures, str):
        exposures = [exposures]
    people.append(("exposures", ", ".join(map(str, exposures)) if exposures else "none recorded"))
    title_bits = [str(meta[k]) for k in ("subject", "muscle", "side") if meta.get(k)]
    return {
        "title": " · ".join(title_bits)
        if title_bits
        else (Path(source).stem if source else "analysis"),
        "rows": rows,
        "people": people,
        "source": source,
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("fasciq.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _usable_recording(
    recording: Recording | None, out: AnalysisOutputs
) -> tuple[Recording | None, str | None]:
    if recording is None:
        return None, None
    labels = out.channels
    fs = out.fs
    if labels and list(recording.channel_labels) != labels:
        return None, (
            "the recording given has other channels than the analysed one, so example "
            "traces are not shown"
        )
    if fs and abs(recording.fs - fs) > 1e-6 * fs:
        return None, (
            f"the recording given is sampled at {recording.fs:g} Hz, the analysis at {fs:g} Hz, "
            "so example traces are not shown"
        )
    return recording, None


def build_context(
    out: AnalysisOutputs,
    recording: Recording | None = None,
    *,
    max_units: int = 12,
    n_examples: int = 4,
) -> dict[str, Any]:
    """Everything the template shows, figures included."""
    rec, rec_note = _usable_recording(recording, out)
    grid = out.grid
    if rec is not None and rec.grid is not None:
        grid = rec.grid
    figures = overview_figures(out, grid)
    cards, units_left_out = unit_gallery(out, grid, max_units) if out.has_units else ([], 0)
    examples = example_fps(out, rec, grid, n_examples) if rec is not None else []
    if rec is None and rec_note is None:
        rec_note = (
            "The recording is not available here, so no example traces are shown "
            "(re-render with `fasciq report OUTDIR --recording FILE`)."
        )
    bad = out.summary.get("bad_channels") or {}
    params = out.summary.get("params") or {}
    return {
        "header": _header(out, grid),
        "numbers": key_numbers(out),
        "excluded": excluded_by_reason(out),
        "figures": {k: asdict(v) for k, v in figures.items()},
        "units": [asdict(c) for c in cards],
        "units_left_out": units_left_out,
        "sorted": out.has_units,
        "examples": [asdict(e) for e in examples],
        "recording_note": rec_note if not examples else None,
        "bad_channels": [
            (str(k), ", ".join(map(str, v if isinstance(v, list) else [v]))) for k, v in bad.items()
        ],
        "line_freq_hz": _number(out.summary.get("line_freq_hz")),
        "params_json": json.dumps(params, indent=2, sort_keys=True, default=str),
        "version": str(out.summary.get("fasciq_version") or "unknown"),
        "report_version": __version__,
        "disclaimer": DISCLAIMER,
    }


def render_html(
    source: str | PathLike[str] | AnalysisOutputs | Any,
    recording: Recording | None = None,
    *,
    max_units: int = 12,
    n_examples: int = 4,
) -> str:
    """The report of ``source`` (analysis folder or result) as an HTML string."""
    out = load_outputs(source)
    context = build_context(out, recording, max_units=max_units, n_examples=n_examples)
    return _environment().get_template("report.html.j2").render(**context)


def render_report(
    outdir: str | PathLike[str],
    recording: Recording | str | PathLike[str] | None = None,
    overwrite: bool = True,
    *,
    max_units: int = 12,
    n_examples: int = 4,
) -> Path:
    """Write ``OUTDIR/report.html`` from the results saved in ``outdir``.

    Parameters
    ----------
    outdir : path
        Analysis folder (``summary.json``, ``fasciculations.csv``...).
    recording : Recording or path, optional
        The analysed recording, for example FPs with their context traces;
        the section is replaced by a note without it.
    overwrite : bool
        Replace an existing ``report.html``.
    max_units : int
        Units shown in the gallery (the most active first).
    n_examples : int
        Example FPs drawn from the recording.

    Returns
    -------
    Path
        The written report.
    """
    tic = time.perf_counter()
    outdir = Path(outdir)
    out = load_outputs(outdir)
    target = outdir / REPORT_NAME
    if target.exists() and not overwrite:
        from fasciq.errors import OutputExistsError

        raise OutputExistsError(
            "report already exists", fix="pass --overwrite to re-render it", source=target
        )
    rec: Recording | None
    if recording is None or isinstance(recording, Recording):
        rec = recording
    else:
        rec = open_recording(recording, out)
    html = render_html(out, rec, max_units=max_units, n_examples=n_examples)
    write_text_atomic(target, html, overwrite=overwrite)
    logger.info("Wrote %s (%.1f kB) in %.2f s", target, len(html) / 1024, time.perf_counter() - tic)
    return target


def open_recording(path: str | PathLike[str], out: AnalysisOutputs) -> Recording:
    """Read the analysed recording with the grid the analysis used."""
    from fasciq.io import read_recording

    rec = read_recording(path)
    grid = out.grid
    if grid is not None and rec.n_channels == grid.n_channels:
        try:
            rec = rec.with_grid(grid)
        except FasciqError as exc:
            logger.info("grid %s not applied to %s: %s", grid.name, path, exc)
    return rec
