"""``fasciq cohort``: longitudinal statistics and the cohort report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


@app.command()
@user_errors
def cohort(
    derivatives: Annotated[Path, typer.Argument(help="Derivatives folder of fasciq batch.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="HTML report (default DERIVATIVES/cohort.html)."),
    ] = None,
    formula: Annotated[
        str | None,
        typer.Option(
            "--formula",
            help="Fixed effects, e.g. 'months * group + muscle + caffeine' (terms: "
            "months, group, muscle, months*group, and covariate columns).",
        ),
    ] = None,
    transform: Annotated[
        str, typer.Option("--transform", help="log1p (default) or sqrt of FP/min.")
    ] = "log1p",
    covariates: Annotated[
        list[str] | None,
        typer.Option("--covariate", "-c", help="Covariate column (repeatable)."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", help="Reference group (default: control).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the report.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the fit as JSON.")] = False,
) -> None:
    """Fit the mixed model of FP frequency over time and write the cohort report."""
    import json

    from fasciq.cohort.catalogue import load_table
    from fasciq.cohort.report import write_cohort_report
    from fasciq.cohort.stats import StatsParams, fit_longitudinal, params_from_formula
    from fasciq.validate import check_output_free

    target = output or (derivatives / "cohort.html")
    check_output_free(target, overwrite)
    params = StatsParams(
        transform=transform, covariates=tuple(covariates or ()), reference_group=reference
    )
    if formula:
        params = params_from_formula(formula, params)
    recordings = load_table(derivatives, "recordings")
    fit = fit_longitudinal(recordings, params)
    write_cohort_report(fit, recordings, target, overwrite=overwrite)
    if as_json:
        typer.echo(json.dumps(fit.to_dict(), default=str))
        return
    for line in fit.statements:
        console.print(f"• {line}", highlight=False, soft_wrap=True)
    console.print(f"report written to {target}")
