"""Longitudinal statistics of FP frequency across a cohort.

The question researchers ask: does FP frequency change over time, and does
that differ between groups (ALS, BFS, controls), muscles and exposures?
One recording gives one rate; a subject gives several recordings (muscles
× visits), so rates of one subject are not independent. The model is a
linear mixed-effects model (statsmodels ``MixedLM``)::

    T(fp_per_min) ~ months + group + months:group + muscle + covariates
                    + (1 [+ months] | subject)

**Why log(FP/min + 1).** FP rates are positive, right-skewed and span two
orders of magnitude between people (a median of 40/min with an IQR of
10–79/min in ALS), and their count noise grows with the rate. Effects are
naturally multiplicative ("rose by 5 % a month", "twice as many in
biceps"), which a log scale turns into additive, roughly homoscedastic
ones; the ``+ 1`` keeps recordings with no FP at all. A coefficient β is
then back-transformed to a ratio exp(β) of (FP/min + 1), which for rates
well above 1/min is the ratio of the rates. The square root (variance
stabilising for Poisson counts) is offered as an alternative; its effects
are additive on the √(FP/min) scale and have no ratio reading.

Estimates come with 95 % Wald intervals from the REML fit; a random slope
per subject is added when the data have enough visits to estimate it and
the fit converges away from the boundary. The plain-language summary says
what the intervals support — and what they do not.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fasciq._logging import logger
from fasciq.errors import DataError, ParameterError

TRANSFORMS = ("log1p", "sqrt")
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class StatsParams:
    """Parameters of the longitudinal model.

    Parameters
    ----------
    transform : {"log1p", "sqrt"}
        Transform of FP/min before modelling (see the module text).
    time_column : str
        Time since the subject's first visit, in months. When every value is
        missing, the visit order (0, 1, 2...) is used and the summary says so.
    group_column : str
        Participant group (``ALS``, ``BFS``, ``control``...); ignored if absent
        or constant.
    reference_group : str or None
        Group the others are compared with (default: a group named like
        ``control``/``healthy`` if any, else the first in sort order).
    covariates : tuple of str
        Further columns (numbers, or categories such as ``yes``/``no``).
    random_slope : {"auto", "yes", "no"}
        Random slope of time per subject.
    group, muscle, interaction : bool
        Include the group, the muscle and the time × group interaction.
    min_analysed_s : float
        Recordings with less analysed time are left out.
    """

    transform: str = "log1p"
    time_column: str = "months_since_first"
    group_column: str = "group"
    reference_group: str | None = None
    covariates: tuple[str, ...] = ()
    random_slope: str = "auto"
    min_analysed_s: float = 0.0
    group: bool = True
    muscle: bool = True
    interaction: bool = True

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ParameterError(
                f"unknown transform {self.transform!r}",
                fix=f"use one of {', '.join(TRANSFORMS)}",
                source="transform",
            )
        if self.random_slope not in ("auto", "yes", "no"):
            raise ParameterError(
                f"random_slope must be auto, yes or no, not {self.random_slope!r}",
                fix="use auto, yes or no",
                source="random_slope",
            )
        if self.min_analysed_s < 0:
            raise ParameterError(
                "min_analysed_s must be ≥ 0", fix="give 0 or more seconds", source="min_analysed_s"
            )
        object.__setattr__(self, "covariates", tuple(self.covariates))


def transform(rate: np.ndarray | pd.Series, kind: str = "log1p") -> np.ndarray:
    """Forward transform of FP/min (``log1p`` or ``sqrt``)."""
    x = np.asarray(rate, dtype=float)
    if kind == "log1p":
        return np.log1p(x)
    if kind == "sqrt":
        return np.sqrt(x)
    raise ParameterError(f"unknown transform {kind!r}", fix="use log1p or sqrt", source="transform")


def inverse_transform(y: np.ndarray | float, kind: str = "log1p") -> np.ndarray:
    """Back to FP/min."""
    y = np.asarray(y, dtype=float)
    return np.expm1(y) if kind == "log1p" else np.square(np.maximum(y, 0))


def frequency_table(recordings: pd.DataFrame, params: StatsParams | None = None) -> pd.DataFrame:
    """FP frequency per subject, muscle and visit, ready to model or plot.

    Parameters
    ----------
    recordings : DataFrame
        The catalogue's ``recordings`` table.
    params : StatsParams, optional

    Returns
    -------
    DataFrame
        Finished recordings with a rate: ``subject``, ``group``, ``muscle``,
        ``session``, ``time`` (months), ``fp_per_min``, ``y`` (transformed)
        and the covariate columns; attribute ``attrs["time_from"]`` says
        whether time came from visit dates or visit order.
    """
    params = params or StatsParams()
    frame = recordings.copy()
    if "status" in frame:
        frame = frame[frame["status"] == "done"]
    need = ("subject", "fp_per_min")
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataError(
            f"the recordings table lacks {', '.join(missing)}",
            fix="build the catalogue with fasciq batch",
            source="recordings",
        )
    frame = frame[frame["fp_per_min"].notna() & frame["subject"].notna()]
    if params.min_analysed_s > 0 and "analysed_s" in frame:
        frame = frame[frame["analysed_s"] >= params.min_analysed_s]
    frame = frame.copy()
    frame["subject"] = frame["subject"].astype(str)
    frame["muscle"] = (
        frame["muscle"].astype("string").fillna("unknown").astype(str)
        if "muscle" in frame
        else "unknown"
    )
    group_col = params.group_column
    frame["group"] = (
        frame[group_col].astype("string").fillna("unknown").astype(str)
        if group_col in frame
        else "all"
    )
    time_from = "dates"
    time = (
        pd.to_numeric(frame[params.time_column], errors="coerce")
        if params.time_column in frame
        else pd.Series(np.nan, index=frame.index)
    )
    if time.isna().all():
        time_from = "visit order"
        order_key = frame["session"].astype(str) if "session" in frame else frame["recording_id"]
        frame["_order"] = order_key
        ranks = frame.groupby("subject")["_order"].rank(method="dense") - 1
        time = ranks.astype(float)
        frame = frame.drop(columns="_order")
    frame["time"] = time.astype(float)
    frame["fp_per_min"] = pd.to_numeric(frame["fp_per_min"], errors="coerce").astype(float)
    frame["y"] = transform(frame["fp_per_min"], params.transform)
    keep = [
        "recording_id",
        "subject",
        "group",
        "muscle",
        "session",
        "time",
        "fp_per_min",
        "y",
        *[c for c in params.covariates if c in frame],
    ]
    out = frame[[c for c in keep if c in frame]].reset_index(drop=True)
    out.attrs["time_from"] = time_from
    return out


def params_from_formula(formula: str, base: StatsParams | None = None) -> StatsParams:
    """Parameters from a fixed-effects formula such as ``"months * group + muscle + caffeine"``.

    Recognised terms: ``months`` (always included), ``group``, ``muscle``,
    ``months * group`` or ``months:group`` (the interaction); every other
    term is a covariate column. A left-hand side (``... ~``) is ignored.

    Parameters
    ----------
    formula : str
        The right-hand side of the model.
    base : StatsParams, optional
        Other settings (transform, reference group) to keep.
    """
    import dataclasses
    import re

    base = base or StatsParams()
    rhs = formula.split("~", 1)[-1]
    terms = [t.strip() for t in rhs.split("+") if t.strip()]
    group = muscle = interaction = False
    covariates: list[str] = []
    for term in terms:
        parts = [p.strip() for p in re.split(r"[*:]", term)]
        names = {"time" if p in ("months", "time", base.time_column) else p for p in parts}
        if len(parts) > 1:
            if names != {"time", "group"}:
                raise ParameterError(
                    f"unsupported interaction {term!r}",
                    fix="only months * group (or months:group) is supported",
                    source="formula",
                )
            interaction = True
            group = group or "*" in term
        elif names == {"time"} or term == "1":
            continue
        elif term == "group":
            group = True
        elif term == "muscle":
            muscle = True
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", term):
            covariates.append(term)
        else:
            raise ParameterError(
                f"cannot read the formula term {term!r}",
                fix="use column names joined by +, and months * group",
                source="formula",
            )
    if interaction and not group:
        group = True
    return dataclasses.replace(
        base,
        group=group,
        muscle=muscle,
        interaction=interaction,
        covariates=tuple(dict.fromkeys([*base.covariates, *covariates])),
    )


# ------------------------------------------------------------------ design


@dataclass
class _Design:
    exog: pd.DataFrame
    reference_group: str | None
    groups: list[str]
    reference_muscle: str | None
    muscles: list[str]
    covariates: dict[str, list[str]]  # covariate -> design columns
    dropped_covariates: list[str]


def _reference(levels: list[str], wanted: str | None, hints: tuple[str, ...]) -> str:
    if wanted is not None:
        if wanted not in levels:
            raise ParameterError(
                f"reference group {wanted!r} is not in the data",
                fix=f"use one of {', '.join(levels)}",
                source="reference_group",
            )
        return wanted
    for level in levels:
        if level.lower() in hints:
            return level
    return levels[0]


def _design(data: pd.DataFrame, params: StatsParams) -> _Design:
    cols: dict[str, np.ndarray] = {"Intercept": np.ones(len(data)), "months": data["time"].values}
    groups = sorted(data["group"].unique()) if params.group else ["all"]
    ref_group = None
    if len(groups) > 1:
        ref_group = _reference(
            groups, params.reference_group, ("control", "controls", "healthy", "hc", "ctrl")
        )
        for g in groups:
            if g != ref_group:
                ind = (data["group"] == g).astype(float).values
                cols[f"group[{g}]"] = ind
        for g in groups:
            if g != ref_group and params.interaction:
                cols[f"months:group[{g}]"] = cols["months"] * cols[f"group[{g}]"]
    muscles = sorted(data["muscle"].unique()) if params.muscle else ["all"]
    ref_muscle = None
    if len(muscles) > 1:
        ref_muscle = muscles[0]
        for m in muscles[1:]:
            cols[f"muscle[{m}]"] = (data["muscle"] == m).astype(float).values
    cov_cols: dict[str, list[str]] = {}
    dropped: list[str] = []
    for cov in params.covariates:
        if cov not in data:
            raise ParameterError(
                f"covariate {cov!r} is not a column of the recordings table",
                fix="name a column of participants.tsv or sessions.tsv",
                source="covariates",
            )
        values = data[cov]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum() and values.notna().any():
            if numeric.nunique() < 2:
                dropped.append(cov)
                continue
            cols[cov] = numeric.values.astype(float)
            cov_cols[cov] = [cov]
        else:
            levels = sorted(values.dropna().astype(str).unique())
            if len(levels) < 2:
                dropped.append(cov)
                continue
            names = []
            for lev in levels[1:]:
                name = f"{cov}[{lev}]"
                ind = (values.astype(str) == lev).to_numpy(dtype=float, copy=True)
                ind[values.isna().values] = np.nan
                cols[name] = ind
                names.append(name)
            cov_cols[cov] = names
    return _Design(
        pd.DataFrame(cols, index=data.index),
        ref_group,
        groups,
        ref_muscle,
        muscles,
        cov_cols,
        dropped,
    )


# ------------------------------------------------------------------ fit


@dataclass
class LongitudinalFit:
    """A fitted longitudinal model and what it says.

    Attributes
    ----------
    coefficients : DataFrame
        Fixed effects: ``term``, ``estimate``, ``se``, ``ci_low``,
        ``ci_high``, ``p``, and (for log1p) the back-transformed ``ratio``,
        ``ratio_low``, ``ratio_high``.
    effects : DataFrame
        Derived quantities researchers read: the time trend of each group
        (``%/month`` for log1p) and each difference, with 95 % intervals and
        ``supported`` (interval excludes no effect).
    statements : list of str
        Plain-language summary.
    data : DataFrame
        The rows that were modelled.
    """

    coefficients: pd.DataFrame
    effects: pd.DataFrame
    statements: list[str]
    data: pd.DataFrame
    params: StatsParams
    formula: str
    random_effects: str
    converged: bool
    n_subjects: int
    n_recordings: int
    time_from: str
    reference_group: str | None
    reference_muscle: str | None
    notes: list[str] = field(default_factory=list)
    model_text: str = ""
    _cov: pd.DataFrame | None = None

    def predict(
        self, months: np.ndarray, group: str | None = None, muscle: str | None = None
    ) -> np.ndarray:
        """Population-average FP/min at ``months`` (covariates at their reference/zero)."""
        beta = self.coefficients.set_index("term")["estimate"]
        t = np.asarray(months, dtype=float)
        y = beta.get("Intercept", 0.0) + beta.get("months", 0.0) * t
        if group is not None and group != self.reference_group:
            y = y + beta.get(f"group[{group}]", 0.0) + beta.get(f"months:group[{group}]", 0.0) * t
        if muscle is not None and muscle != self.reference_muscle:
            y = y + beta.get(f"muscle[{muscle}]", 0.0)
        return inverse_transform(y, self.params.transform)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary of the fit."""
        return {
            "formula": self.formula,
            "random_effects": self.random_effects,
            "transform": self.params.transform,
            "converged": self.converged,
            "n_subjects": self.n_subjects,
            "n_recordings": self.n_recordings,
            "time_from": self.time_from,
            "reference_group": self.reference_group,
            "reference_muscle": self.reference_muscle,
            "coefficients": self.coefficients.replace({np.nan: None}).to_dict(orient="records"),
            "effects": self.effects.replace({np.nan: None}).to_dict(orient="records"),
            "statements": self.statements,
            "notes": self.notes,
        }


def _fit_mixed(
    y: np.ndarray, exog: pd.DataFrame, subjects: np.ndarray, slope: bool
) -> tuple[Any, bool, list[str]]:
    from statsmodels.regression.mixed_linear_model import MixedLM

    exog_re = exog[["Intercept", "months"]] if slope else exog[["Intercept"]]
    model = MixedLM(y, exog, groups=subjects, exog_re=exog_re)
    caught: list[str] = []
    result = None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for method in (["lbfgs"], ["bfgs"], ["powell", "lbfgs"], ["nm", "bfgs"]):
            try:
                result = model.fit(reml=True, method=method)
            except (np.linalg.LinAlgError, ValueError):
                continue
            if result.converged:
                break
    caught = [str(w.message) for w in record]
    if result is None:
        raise DataError(
            "the mixed model could not be fitted",
            fix="check that the cohort has several subjects with rates",
            source="cohort",
        )
    ok = bool(result.converged) and not any(
        "boundary" in m.lower() or "singular" in m.lower() for m in caught
    )
    return result, ok, caught


def _wald(est: float, var: float) -> tuple[float, float, float, float]:
    se = math.sqrt(max(var, 0.0))
    if se == 0 or not np.isfinite(se):
        return se, float("nan"), float("nan"), float("nan")
    z = est / se
    p = math.erfc(abs(z) / math.sqrt(2.0))
    return se, est - _Z95 * se, est + _Z95 * se, p


def fit_longitudinal(
    recordings: pd.DataFrame, params: StatsParams | None = None
) -> LongitudinalFit:
    """Fit the mixed model of transformed FP frequency and summarise it.

    Parameters
    ----------
    recordings : DataFrame
        The catalogue's ``recordings`` table (or :func:`frequency_table` input
        with the same columns).
    params : StatsParams, optional

    Returns
    -------
    LongitudinalFit

    Raises
    ------
    DataError
        With fewer than 3 subjects or fewer rows than parameters.
    """
    params = params or StatsParams()
    data = frequency_table(recordings, params)
    time_from = data.attrs.get("time_from", "dates")
    notes: list[str] = []
    if data["time"].isna().any():
        n = int(data["time"].isna().sum())
        notes.append(f"{n} recording(s) without a visit time were left out")
        data = data[data["time"].notna()]
    design = _design(data, params)
    exog = design.exog
    complete = exog.notna().all(axis=1)
    if not complete.all():
        notes.append(f"{int((~complete).sum())} recording(s) with missing covariates were left out")
        data, exog = data[complete], exog[complete]
    for cov in design.dropped_covariates:
        notes.append(f"covariate {cov!r} does not vary in the data and was left out")
    n_subjects = int(data["subject"].nunique())
    if n_subjects < 3 or len(data) <= exog.shape[1] + 1:
        raise DataError(
            f"too little data for a mixed model ({len(data)} recordings of {n_subjects} "
            f"subjects for {exog.shape[1]} fixed effects)",
            fix="analyse more subjects and visits, or fewer covariates",
            source="cohort",
        )
    y = data["y"].to_numpy(dtype=float)
    subjects = data["subject"].to_numpy()
    visits = data.groupby("subject")["time"].nunique()
    enough = int((visits >= 3).sum()) >= 3
    want_slope = params.random_slope == "yes" or (params.random_slope == "auto" and enough)
    result = None
    slope_used = False
    if want_slope:
        result, ok, _ = _fit_mixed(y, exog, subjects, slope=True)
        if ok or params.random_slope == "yes":
            slope_used = True
            if not ok:
                notes.append(
                    "the random-slope fit did not converge cleanly (a slope variance at zero)"
                )
        else:
            notes.append(
                "a random slope per subject could not be estimated (fit at the "
                "boundary); a random intercept was used"
            )
            result = None
    elif params.random_slope == "auto":
        notes.append(
            "too few subjects with 3 or more visits for a random slope; a random "
            "intercept per subject was used"
        )
    if result is None:
        result, ok, _msgs = _fit_mixed(y, exog, subjects, slope=False)
        if not result.converged:
            notes.append("the mixed model fit did not converge: treat the intervals with caution")
        elif not ok:
            notes.append(
                "the between-subject variance was estimated at zero: subjects did "
                "not differ beyond the fixed effects"
            )
    names = list(exog.columns)
    fe = pd.Series(np.asarray(result.fe_params), index=names)
    cov_all = result.cov_params()
    cov = pd.DataFrame(np.asarray(cov_all)[: len(names), : len(names)], index=names, columns=names)
    rows = []
    for term in names:
        se, lo, hi, p = _wald(float(fe[term]), float(cov.loc[term, term]))
        rows.append(
            {
                "term": term,
                "estimate": float(fe[term]),
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "p": p,
            }
        )
    coefficients = pd.DataFrame(rows)
    if params.transform == "log1p":
        for col, src in (("ratio", "estimate"), ("ratio_low", "ci_low"), ("ratio_high", "ci_high")):
            coefficients[col] = np.exp(coefficients[src])
    effects = _effects(fe, cov, design, params)
    rand = (
        "random intercept and slope of time per subject"
        if slope_used
        else "random intercept per subject"
    )
    formula = (
        "T(fp_per_min) ~ "
        + " + ".join(n for n in names if n != "Intercept")
        + (" + (1 + months | subject)" if slope_used else " + (1 | subject)")
    )
    fit = LongitudinalFit(
        coefficients=coefficients,
        effects=effects,
        statements=[],
        data=data,
        params=params,
        formula=formula,
        random_effects=rand,
        converged=bool(result.converged),
        n_subjects=n_subjects,
        n_recordings=len(data),
        time_from=time_from,
        reference_group=design.reference_group,
        reference_muscle=design.reference_muscle,
        notes=notes,
        model_text=str(result.summary()),
        _cov=cov,
    )
    fit.statements = summarise(fit, design)
    logger.info("mixed model: %d recordings of %d subjects, %s", len(data), n_subjects, rand)
    return fit


def _effect_row(
    kind: str, label: str, vec: pd.Series, fe: pd.Series, cov: pd.DataFrame, params: StatsParams
) -> dict[str, Any]:
    est = float(vec @ fe)
    var = float(vec @ cov @ vec)
    se, lo, hi, p = _wald(est, var)
    row: dict[str, Any] = {
        "kind": kind,
        "label": label,
        "estimate": est,
        "se": se,
        "ci_low": lo,
        "ci_high": hi,
        "p": p,
        "supported": bool(np.isfinite(lo) and (lo > 0 or hi < 0)),
    }
    if params.transform == "log1p":
        if kind == "trend" or kind == "trend difference":
            row.update(
                effect=100 * math.expm1(est),
                effect_low=100 * math.expm1(lo),
                effect_high=100 * math.expm1(hi),
                unit="%/month",
            )
        else:
            row.update(
                effect=math.exp(est),
                effect_low=math.exp(lo),
                effect_high=math.exp(hi),
                unit="ratio",
            )
    else:
        row.update(
            effect=est,
            effect_low=lo,
            effect_high=hi,
            unit="√(FP/min) per month" if kind.startswith("trend") else "√(FP/min)",
        )
    return row


def _effects(
    fe: pd.Series, cov: pd.DataFrame, design: _Design, params: StatsParams
) -> pd.DataFrame:
    names = list(fe.index)

    def vec(**weights: float) -> pd.Series:
        v = pd.Series(0.0, index=names)
        for k, w in weights.items():
            v[k] = w
        return v

    rows = []
    groups: list[str | None] = list(design.groups) if design.reference_group is not None else [None]
    for g in groups:
        weights = {"months": 1.0}
        if g is not None and g != design.reference_group and f"months:group[{g}]" in names:
            weights[f"months:group[{g}]"] = 1.0
        label = "all subjects" if g is None or "months:group" not in " ".join(names) else str(g)
        if label == "all subjects" and rows:
            continue
        rows.append(_effect_row("trend", label, vec(**weights), fe, cov, params))
    if design.reference_group is not None:
        for g in design.groups:
            if g == design.reference_group:
                continue
            rows.append(
                _effect_row(
                    "group at first visit",
                    f"{g} vs {design.reference_group}",
                    vec(**{f"group[{g}]": 1.0}),
                    fe,
                    cov,
                    params,
                )
            )
            if f"months:group[{g}]" in names:
                rows.append(
                    _effect_row(
                        "trend difference",
                        f"{g} vs {design.reference_group}",
                        vec(**{f"months:group[{g}]": 1.0}),
                        fe,
                        cov,
                        params,
                    )
                )
    if design.reference_muscle is not None:
        for m in design.muscles:
            if m != design.reference_muscle:
                rows.append(
                    _effect_row(
                        "muscle",
                        f"{m} vs {design.reference_muscle}",
                        vec(**{f"muscle[{m}]": 1.0}),
                        fe,
                        cov,
                        params,
                    )
                )
    for cov_name, cols in design.covariates.items():
        for col in cols:
            label = col if col != cov_name else f"{cov_name} (per unit)"
            rows.append(_effect_row("covariate", label, vec(**{col: 1.0}), fe, cov, params))
    return pd.DataFrame(rows)


def _fmt(x: float, digits: int = 1) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}" if abs(x) < 1000 else f"{x:.3g}"


def _ci(row: pd.Series, digits: int = 1) -> str:
    return f"95 % CI {_fmt(row['effect_low'], digits)} to {_fmt(row['effect_high'], digits)}"


def summarise(fit: LongitudinalFit, design: _Design | None = None) -> list[str]:
    """Plain-language sentences: what the intervals support, and what they do not."""
    out: list[str] = []
    log = fit.params.transform == "log1p"
    what = "FP frequency" if log else "√(FP frequency)"
    when = (
        "per month since the first visit"
        if fit.time_from == "dates"
        else "per visit (no visit dates: time is the visit order)"
    )
    unit = "%/month" if fit.time_from == "dates" else "% per visit"
    for _, r in fit.effects.iterrows():
        who = "" if r["label"] == "all subjects" else f" in {r['label']}"
        if r["kind"] == "trend":
            if log:
                size = f"{_fmt(r['effect'])} {unit}, {_ci(r)}"
                if r["supported"]:
                    verb = "rose" if r["estimate"] > 0 else "fell"
                    out.append(f"{what} {verb}{who} by {_fmt(r['effect'])} {unit} ({_ci(r)}).")
                else:
                    out.append(f"No evidence of a change in {what} over time{who} ({size}).")
            else:
                size = f"{_fmt(r['effect'], 3)} √(FP/min) {when}, {_ci(r, 3)}"
                out.append(
                    f"{what} changed{who} by {size}."
                    if r["supported"]
                    else f"No evidence of a change over time{who} ({size})."
                )
        elif r["kind"] == "group at first visit":
            pair = r["label"].replace(" vs ", " and ")
            if log:
                size = f"ratio {_fmt(r['effect'], 2)}, {_ci(r, 2)}"
                text = (
                    f"At the first visit, {r['label'].split(' vs ')[0]} had "
                    f"{_fmt(r['effect'], 2)} times the {what} of {fit.reference_group} "
                    f"({_ci(r, 2)})"
                )
            else:
                size = f"{_fmt(r['effect'], 3)} √(FP/min), {_ci(r, 3)}"
                text = f"At the first visit, {pair} differed by {size}"
            out.append(
                text + "."
                if r["supported"]
                else f"No evidence of a difference at the first visit between {pair} ({size})."
            )
        elif r["kind"] == "trend difference":
            size = (
                f"{_fmt(r['effect'])} {unit}, {_ci(r)}"
                if log
                else f"{_fmt(r['effect'], 3)}, {_ci(r, 3)}"
            )
            out.append(
                f"The time trend differs between {r['label'].replace(' vs ', ' and ')} "
                f"(difference {size})."
                if r["supported"]
                else f"No evidence that the time trend differs between "
                f"{r['label'].replace(' vs ', ' and ')} ({size})."
            )
        elif r["kind"] in ("muscle", "covariate"):
            size = (
                f"ratio {_fmt(r['effect'], 2)}, {_ci(r, 2)}"
                if log
                else f"{_fmt(r['effect'], 3)}, {_ci(r, 3)}"
            )
            name = ("muscle " if r["kind"] == "muscle" else "") + str(r["label"])
            out.append(
                f"{what} differs with {name} ({size})."
                if r["supported"]
                else f"No evidence of a difference for {name} ({size})."
            )
    out.append(
        f"Based on {fit.n_recordings} recordings of {fit.n_subjects} subjects, "
        f"{fit.random_effects}; "
        + (
            "ratios are of FP/min + 1, close to ratios of FP/min for rates well above 1/min. "
            if log
            else "effects are on the square-root scale. "
        )
        + '"No evidence" means the 95 % interval includes no effect — not that there is '
        "none; a wide interval means the cohort is too small to tell."
    )
    out.extend(n[0].upper() + n[1:] + "." for n in fit.notes)
    return out


__all__ = [
    "TRANSFORMS",
    "LongitudinalFit",
    "StatsParams",
    "fit_longitudinal",
    "frequency_table",
    "inverse_transform",
    "params_from_formula",
    "summarise",
    "transform",
]
