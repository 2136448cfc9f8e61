from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fasciq.cohort.catalogue import load_table
from fasciq.cohort.stats import (
    StatsParams,
    fit_longitudinal,
    frequency_table,
    params_from_formula,
)
from fasciq.errors import DataError, ParameterError
from tests.cohort import study
from tests.cohort._synth import BASE, MUSCLE, SLOPE, cohort_table


def _effect(fit, kind: str, label: str):
    eff = fit.effects
    row = eff[(eff["kind"] == kind) & (eff["label"] == label)]
    assert len(row) == 1, (kind, label, eff[["kind", "label"]])
    return row.iloc[0]


def _covers(row, value: float) -> bool:
    return row["ci_low"] <= value <= row["ci_high"]


def test_planted_effects_recovered_from_poisson_counts() -> None:
    fit = fit_longitudinal(cohort_table(), StatsParams(covariates=("caffeine",)))
    assert fit.reference_group == "control" and fit.reference_muscle == "biceps"
    assert fit.n_subjects == 30 and fit.n_recordings == 300
    als = _effect(fit, "trend", "ALS")
    # planted on log(rate); log(rate + 1) shrinks it by rate/(rate + 1) ~ 0.98
    assert _covers(als, SLOPE["ALS"]) or _covers(als, SLOPE["ALS"] * 40 / 41)
    assert als["supported"] and als["effect"] == pytest.approx(6.0, abs=1.0)  # %/month
    for group in ("BFS", "control"):
        row = _effect(fit, "trend", group)
        assert _covers(row, 0.0) and not row["supported"]
    ratio = _effect(fit, "group at first visit", "ALS vs control")
    assert ratio["effect_low"] <= (41 / 9) <= ratio["effect_high"] or _covers(
        ratio, BASE["ALS"] - BASE["control"]
    )
    bfs = _effect(fit, "group at first visit", "BFS vs control")
    assert bfs["ci_low"] <= math.log(21 / 9) <= bfs["ci_high"]
    muscle = _effect(fit, "muscle", "gastrocnemius vs biceps")
    assert (
        muscle["supported"]
        and muscle["ci_low"] - 0.02 <= MUSCLE["gastrocnemius"] <= muscle["ci_high"] + 0.02
    )
    caffeine = _effect(fit, "covariate", "caffeine[yes]")
    assert not caffeine["supported"]
    text = " ".join(fit.statements)
    assert "rose in ALS by" in text
    assert "No evidence of a change in FP frequency over time in control" in text
    assert "No evidence of a difference for caffeine[yes]" in text
    # population prediction back on the FP/min scale
    pred = fit.predict(np.array([0.0]), group="ALS")[0]
    assert pred == pytest.approx(40.0, rel=0.35)


def test_sqrt_transform_and_visit_order() -> None:
    table = cohort_table(n_per_group=6).drop(columns="months_since_first")
    fit = fit_longitudinal(table, StatsParams(transform="sqrt"))
    assert fit.time_from == "visit order"
    assert set(frequency_table(table)["time"]) == {0.0, 1.0, 2.0, 3.0, 4.0}
    als = _effect(fit, "trend", "ALS")
    assert als["supported"] and als["estimate"] > 0 and als["unit"].startswith("√")
    assert "per visit" in " ".join(fit.statements) or "visit order" in " ".join(fit.statements)


def test_formula_terms() -> None:
    p = params_from_formula("log1p(fp) ~ months * group + muscle + caffeine")
    assert (p.group, p.muscle, p.interaction, p.covariates) == (True, True, True, ("caffeine",))
    p = params_from_formula("months + group")
    assert (p.group, p.muscle, p.interaction) == (True, False, False)
    fit = fit_longitudinal(cohort_table(n_per_group=5), p)
    assert "months:group[ALS]" not in set(fit.coefficients["term"])
    assert "muscle[gastrocnemius]" not in set(fit.coefficients["term"])
    with pytest.raises(ParameterError):
        params_from_formula("months * muscle")
    with pytest.raises(ParameterError):
        fit_longitudinal(cohort_table(n_per_group=3), StatsParams(covariates=("nope",)))


def test_too_little_data() -> None:
    table = cohort_table(n_per_group=1)
    with pytest.raises(DataError, match="too little data"):
        fit_longitudinal(table[table["group"] == "ALS"])


def test_planted_effects_recovered_from_the_simulated_study(batch_derivatives: Path) -> None:
    fit = fit_longitudinal(load_table(batch_derivatives, "recordings"))
    assert fit.n_subjects == 12 and fit.n_recordings == 96 and fit.time_from == "dates"
    als = _effect(fit, "trend", "ALS")
    assert als["supported"] and als["estimate"] > 0
    assert _covers(als, study.log_trend("ALS"))
    assert _covers(_effect(fit, "trend", "control"), 0.0)
    ratio = _effect(fit, "group at first visit", "ALS vs control")
    planted = study.BASE_RATE["ALS"] / study.BASE_RATE["control"]
    assert ratio["supported"] and ratio["effect_low"] <= planted <= ratio["effect_high"]
    assert _covers(_effect(fit, "muscle", "gastrocnemius vs biceps"), 0.0)
