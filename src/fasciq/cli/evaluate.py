"""``fasciq evaluate``: compare an analysis with simulator truth or human marks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


def _fmt(value: object, pct: bool = False) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{100 * value:.1f} %" if pct else f"{value:.3g}"
    return str(value)


@app.command()
@user_errors
def evaluate(
    outdir: Annotated[Path, typer.Argument(help="Folder written by `fasciq analyze`.")],
    truth: Annotated[
        Path,
        typer.Argument(
            help="Simulator <stem>.truth.csv (or the simulated recording), or a human "
            "annotation CSV with a time_s column."
        ),
    ],
    tolerance_ms: Annotated[
        float | None,
        typer.Option(
            "--tolerance-ms",
            help="Matching window; default 10 ms for simulator truth, 25 ms for human marks.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Metrics JSON (default OUTDIR/evaluation.json)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing file.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Compare detected FPs with simulator truth or human marks.

    Matches within a tolerance window and reports sensitivity, precision, F1,
    the matched FPs' median timing error and signed timing bias (detected −
    reference), rate error and the time excluded.
    """
    from fasciq._atomic import write_text_atomic
    from fasciq.evaluate import EvaluationParams, evaluate_outdir

    params = EvaluationParams(None if tolerance_ms is None else tolerance_ms / 1e3)
    target = output or (outdir / "evaluation.json")
    from fasciq.validate import check_output_free

    check_output_free(target, overwrite)
    metrics = evaluate_outdir(outdir, truth, params)
    write_text_atomic(target, json.dumps(metrics, indent=2), overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    table = Table(
        title=f"fasciq evaluate ({metrics['reference_kind']}, ±{metrics['tolerance_ms']:.0f} ms)"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("reference FPs at rest", _fmt(metrics["n_reference"])),
        ("detected FPs", _fmt(metrics["n_detected"])),
        ("true / false positives", f"{metrics['true_positives']} / {metrics['false_positives']}"),
        ("sensitivity", _fmt(metrics["sensitivity"], pct=True)),
        ("sensitivity (analysed time)", _fmt(metrics["sensitivity_analysed"], pct=True)),
        ("precision", _fmt(metrics["precision"], pct=True)),
        ("F1", _fmt(metrics["f1"])),
        ("median |timing error| (ms)", _fmt(metrics["median_timing_error_ms"])),
        ("timing bias, detected − reference (ms)", _fmt(metrics["timing_bias_ms"])),
        ("false FPs per minute", _fmt(metrics["false_fp_per_min"])),
    ]
    if "rate_error" in metrics:
        rows += [
            ("reference FP/min (rest)", _fmt(metrics["reference_fp_per_min"])),
            ("reported FP/min", _fmt(metrics["reported_fp_per_min"])),
            ("rate error", _fmt(metrics["rate_error"], pct=True)),
            ("voluntary time excluded", _fmt(metrics["voluntary_excluded_fraction"], pct=True)),
            ("rest time lost", _fmt(metrics["rest_lost_fraction"], pct=True)),
        ]
    if "sorting" in metrics:
        s = metrics["sorting"]
        rows += [
            ("adjusted Rand index", _fmt(s["ari"])),
            ("units found / true", f"{s['n_units_found']} / {s['n_units_true']}"),
        ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    console.print(f"metrics written to {target}")
