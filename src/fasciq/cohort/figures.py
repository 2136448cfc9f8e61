"""Figures of the cohort report: FP frequency trajectories and the model's effects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fasciq.cohort.stats import LongitudinalFit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")


def _group_colours(groups: list[str]) -> dict[str, str]:
    return {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(sorted(groups))}


def trajectories(fit: LongitudinalFit) -> Figure:
    """FP/min over time, one line per subject, one panel per muscle, with the model's fit.

    The y axis is log(FP/min + 1) labelled in FP/min (the modelled scale);
    thick lines are the population-average predictions of each group.
    """
    from matplotlib.figure import Figure

    data = fit.data
    muscles = sorted(data["muscle"].unique())
    colours = _group_colours(list(data["group"].unique()))
    fig = Figure(figsize=(4.2 * len(muscles), 3.4), layout="constrained")
    axes = fig.subplots(1, len(muscles), sharey=True, squeeze=False)[0]
    t_max = float(np.nanmax(data["time"])) if len(data) else 1.0
    grid_t = np.linspace(0.0, max(t_max, 1e-6), 50)
    for ax, muscle in zip(axes, muscles, strict=True):
        sub = data[data["muscle"] == muscle]
        for (_, group), rows in sub.groupby(["subject", "group"]):
            rows = rows.sort_values("time")
            ax.plot(rows["time"], rows["y"], "-o", color=colours[group], alpha=0.35, lw=0.8, ms=2.5)
        for group in sorted(sub["group"].unique()):
            pred = fit.predict(grid_t, group=group, muscle=muscle)
            y = np.log1p(pred) if fit.params.transform == "log1p" else np.sqrt(pred)
            ax.plot(grid_t, y, color=colours[group], lw=2.5, label=str(group))
        ax.set_title(str(muscle))
        ax.set_xlabel("months since first visit" if fit.time_from == "dates" else "visit")
        ax.spines[["top", "right"]].set_visible(False)
    ticks = np.array([0, 1, 3, 10, 30, 100, 300, 1000])
    top = float(np.nanmax(data["fp_per_min"])) if len(data) else 10.0
    ticks = ticks[ticks <= max(top * 1.5, 3)]
    pos = np.log1p(ticks) if fit.params.transform == "log1p" else np.sqrt(ticks)
    axes[0].set_yticks(pos, [f"{t:g}" for t in ticks])
    axes[0].set_ylabel("FP/min")
    axes[-1].legend(frameon=False, fontsize="small")
    return fig


def effects_forest(fit: LongitudinalFit) -> Figure:
    """Each effect with its 95 % interval (ratios and %/month for log1p)."""
    from matplotlib.figure import Figure

    eff = fit.effects
    fig = Figure(figsize=(6.4, 0.45 * len(eff) + 1.0), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(eff))[::-1]
    null = eff["unit"].map({"ratio": 1.0}).fillna(0.0).to_numpy()
    # put every effect on a common "relative change" axis for log1p: ratio -> % change
    if fit.params.transform == "log1p":
        scale = np.where(eff["unit"] == "ratio", 100.0, 1.0)
        shift = np.where(eff["unit"] == "ratio", 100.0, 0.0)
        x = eff["effect"].to_numpy() * scale - shift
        lo = eff["effect_low"].to_numpy() * scale - shift
        hi = eff["effect_high"].to_numpy() * scale - shift
        ax.set_xlabel("% change (per month for trends)")
        null = np.zeros(len(eff))
    else:
        x, lo, hi = (eff[c].to_numpy() for c in ("effect", "effect_low", "effect_high"))
        ax.set_xlabel("effect on √(FP/min)")
    colours = np.where(eff["supported"], "#d62728", "#555555")
    ax.hlines(y, lo, hi, color=colours, lw=2)
    ax.scatter(x, y, color=colours, zorder=3)
    ax.axvline(float(null[0]) if len(null) else 0.0, color="k", lw=0.8, ls="--")
    labels = [f"{k}: {lab}" for k, lab in zip(eff["kind"], eff["label"], strict=True)]
    ax.set_yticks(y, labels, fontsize="small")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def rate_table(fit: LongitudinalFit) -> pd.DataFrame:
    """Median FP/min (and recording count) per group, muscle and visit time."""
    data = fit.data.assign(time=fit.data["time"].round(1))
    return (
        data.groupby(["group", "muscle", "time"])["fp_per_min"]
        .agg(["count", "median"])
        .reset_index()
    )
