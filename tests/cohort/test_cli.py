from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from fasciq.cli.app import app
from fasciq.cohort.catalogue import load_table, update_catalogue


def test_query_formats(batch_derivatives: Path) -> None:
    runner = CliRunner()
    sql = 'SELECT "group", count(*) AS n, sum(n_fp) AS fps FROM recordings GROUP BY 1 ORDER BY 1'
    res = runner.invoke(app, ["query", str(batch_derivatives), sql, "--csv"])
    assert res.exit_code == 0, res.output
    frame = pd.read_csv(io.StringIO(res.output))
    assert frame["group"].tolist() == ["ALS", "BFS", "control"]
    assert frame["n"].tolist() == [32, 32, 32]
    total = len(load_table(batch_derivatives, "fasciculations"))
    assert frame["fps"].sum() == total
    res = runner.invoke(
        app, ["query", str(batch_derivatives), "SELECT count(*) AS n FROM fasciculations", "--json"]
    )
    assert json.loads(res.output) == [{"n": total}]
    res = runner.invoke(
        app,
        [
            "query",
            str(batch_derivatives),
            "SELECT muscle, count(*) AS n FROM recordings GROUP BY 1",
        ],
    )
    assert res.exit_code == 0 and "gastrocnemius" in res.output
    res = runner.invoke(app, ["query", str(batch_derivatives), "SELEC nonsense"])
    assert res.exit_code == 2 and "query failed" in res.output


def test_cohort_report(batch_derivatives: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohort.html"
    res = CliRunner().invoke(app, ["cohort", str(batch_derivatives), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "rose in ALS" in res.output
    html = out.read_text()
    assert 'data-key="n_subjects" data-value="12"' in html
    assert html.count("data:image/svg+xml;base64,") == 2
    assert not re.search(r"(src|href)=\"https?://", html)
    res = CliRunner().invoke(app, ["cohort", str(batch_derivatives), "-o", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = CliRunner().invoke(
        app,
        [
            "cohort",
            str(batch_derivatives),
            "-o",
            str(out),
            "--overwrite",
            "--formula",
            "months + group",
            "--json",
        ],
    )
    fit = json.loads(res.output)
    assert not any("months:group" in c["term"] for c in fit["coefficients"])


def test_incremental_catalogue(batch_derivatives: Path, tmp_path: Path) -> None:
    import shutil

    deriv = tmp_path / "copy"
    shutil.copytree(batch_derivatives, deriv)
    before = load_table(deriv, "fasciculations")
    victim = next(deriv.rglob("sub-bfs02_ses-01_task-rest_acq-biceps_fasciq"))
    n_victim = len(pd.read_csv(victim / "fasciculations.csv"))
    shutil.rmtree(victim)
    counts = update_catalogue(deriv)
    after = load_table(deriv, "fasciculations")
    assert counts["fasciculations"] == len(before) - n_victim == len(after)
    assert "sub-bfs02_ses-01_task-rest_acq-biceps" not in set(after["recording_id"])
    rebuilt = update_catalogue(deriv, rebuild=True)
    assert rebuilt == counts
