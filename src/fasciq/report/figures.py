"""The figures of the HTML report, drawn from saved results and embedded as data URIs.

Simple figures are embedded as compact SVG (text kept as text); dense ones
(unit templates with overlaid discharges, raw traces) as PNG at a modest
resolution, so a 30-minute analysis gives a report of a few MB at most.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from scipy import signal as sps

from fasciq._logging import logger
from fasciq.errors import FasciqError
from fasciq.grids.grid import Grid
from fasciq.plot._base import unit_colour
from fasciq.plot._stats import counts_per_channel
from fasciq.plot.grid import plot_bad_channels, plot_grid_heatmap
from fasciq.plot.hist import plot_amplitude_hist, plot_interval_hist
from fasciq.plot.noise import plot_noise
from fasciq.plot.raster import plot_raster
from fasciq.plot.template import plot_unit_template
from fasciq.plot.timeline import plot_timeline
from fasciq.plot.traces import plot_fp_example
from fasciq.recording import Recording
from fasciq.report.outputs import AnalysisOutputs

#: Seconds of signal shown either side of an example FP.
CONTEXT_S = 0.050
#: High-pass corner applied to example traces (removes baseline drift only).
CONTEXT_HIGHPASS_HZ = 20.0

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "fasciq-report",
    "font.family": "sans-serif",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "path.simplify": True,
}


@dataclass
class ReportFigure:
    """One figure as the template shows it."""

    key: str
    title: str
    uri: str
    alt: str
    caption: str = ""


@dataclass
class UnitCard:
    """One motor unit in the gallery."""

    unit: int
    colour: str
    template_uri: str | None
    map_uri: str | None
    stats: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ExampleFP:
    """One example FP with its context traces."""

    title: str
    uri: str
    caption: str


def figure_uri(fig: Figure, fmt: str = "svg", dpi: int = 100) -> str:
    """Encode ``fig`` as a ``data:`` URI (``"svg"`` or ``"png"``)."""
    buf = io.BytesIO()
    with mpl.rc_context(_RC):
        if fmt == "svg":
            fig.savefig(buf, format="svg", metadata={"Date": None})
            mime = "image/svg+xml"
        else:
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
            mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _new(fn: Any, *args: Any, **kwargs: Any) -> Figure:
    with mpl.rc_context(_RC):
        return fn(*args, **kwargs)


def overview_figures(out: AnalysisOutputs, grid: Grid | None) -> dict[str, ReportFigure]:
    """Timeline, raster, histograms, FP map, channel quality and noise."""
    fp = out.fasciculations
    times = fp["time_s"].to_numpy(dtype=float)
    units = fp["unit"].to_numpy()
    duration = out.duration_s
    figs: dict[str, ReportFigure] = {}
    rate_bin = 60.0 if duration >= 240 else max(duration / 12.0, 1.0)
    figs["timeline"] = ReportFigure(
        "timeline",
        "Timeline",
        figure_uri(_new(plot_timeline, out.excluded, duration, times, bin_s=rate_bin)),
        "FP rate per bin over the recording, excluded spans shaded by reason",
        f"Bars: FPs per minute of analysed time in {rate_bin:g}-s bins. "
        "Shaded: spans not analysed, coloured by reason.",
    )
    if len(fp):
        figs["raster"] = ReportFigure(
            "raster",
            "Discharges per unit",
            figure_uri(
                _new(
                    plot_raster,
                    times,
                    units if out.has_units else None,
                    duration_s=duration,
                    excluded=out.excluded,
                )
            ),
            "Raster of FP times, one row per motor unit",
            "One tick per FP, one row per putative motor unit."
            if out.has_units
            else "One tick per FP (motor units were not sorted).",
        )
    if "amplitude_uv" in fp and fp["amplitude_uv"].notna().any():
        figs["amplitude"] = ReportFigure(
            "amplitude",
            "FP amplitude",
            figure_uri(
                _new(
                    plot_amplitude_hist,
                    fp["amplitude_uv"].to_numpy(dtype=float),
                    units if out.has_units else None,
                )
            ),
            "Histogram of FP peak-to-peak amplitude",
            "Peak-to-peak amplitude on the largest channel.",
        )
    if len(fp) >= 2:
        figs["intervals"] = ReportFigure(
            "intervals",
            "Intervals",
            figure_uri(
                _new(
                    plot_interval_hist,
                    times,
                    units if out.has_units else None,
                    excluded=out.excluded,
                )
            ),
            "Histogram of intervals between FPs",
            "Shaded: double-discharge range (10–110 ms); dashed: 250 ms, beyond which "
            "both neighbouring intervals make a discharge isolated.",
        )
    labels = out.channels
    if labels and "channel" in fp and len(fp):
        counts = counts_per_channel(fp["channel"].astype(str).tolist(), labels)
        figs["fp_map"] = ReportFigure(
            "fp_map",
            "Where FPs are largest",
            figure_uri(
                _new(
                    plot_grid_heatmap,
                    counts,
                    grid,
                    labels=labels,
                    colorbar_label="FPs",
                    cmap="YlOrRd",
                )
            ),
            "Number of FPs whose largest channel is each electrode, drawn on the grid",
            "FPs counted on the channel where each was largest"
            + ("." if grid is not None else " (no grid known: channels in a row)."),
        )
    if labels:
        bad = out.summary.get("bad_channels") or {}
        bad = {
            str(k): [str(r) for r in (v if isinstance(v, list) else [v])] for k, v in bad.items()
        }
        figs["bad_channels"] = ReportFigure(
            "bad_channels",
            "Channel quality",
            figure_uri(_new(plot_bad_channels, bad, labels, grid)),
            "Electrode grid with bad channels coloured by reason",
            f"{len(bad)} of {len(labels)} channels left out." if bad else "All channels used.",
        )
    noise = noise_figure(out, grid)
    if noise is not None:
        figs["noise"] = noise
    return figs


def noise_figure(out: AnalysisOutputs, grid: Grid | None) -> ReportFigure | None:
    """Noise over time (or, without times, per electrode on the grid)."""
    noise = out.summary.get("noise_uv")
    if not isinstance(noise, dict) or noise.get("values") is None:
        return None
    try:
        values = np.asarray(noise["values"], dtype=float)
    except (TypeError, ValueError):
        return None
    channels = [str(c) for c in (noise.get("channels") or out.channels)]
    times = noise.get("times_s")
    try:
        if times is not None and len(times) > 1:
            t = np.asarray(times, dtype=float)
            if values.ndim == 1:
                values = values[:, None]
            if values.shape[0] != t.size and values.shape[1] == t.size:
                values = values.T
            fig = _new(plot_noise, t, values, channels, excluded=out.excluded)
            caption = "Noise level (RMS of the signal between FPs) over the recording."
        else:
            per_channel = values.reshape(-1)
            use_grid = grid if grid is not None and grid.n_channels == per_channel.size else None
            fig = _new(
                plot_grid_heatmap,
                per_channel,
                use_grid,
                labels=channels,
                colorbar_label="µV RMS",
                fmt="{:.1f}",
            )
            caption = "Noise level of each electrode (RMS of the signal between FPs)."
    except FasciqError as exc:
        logger.warning("noise levels in the summary cannot be drawn: %s", exc)
        return None
    return ReportFigure("noise", "Noise", figure_uri(fig), "Noise level of the channels", caption)


def _fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a" if value is None or value == "" else str(value)
    if not np.isfinite(v):
        return "n/a"
    text = f"{v:.{digits}f}" if digits else f"{round(v):d}"
    return f"{text} {unit}".strip()


_UNIT_STATS = (
    ("n_fp", "FPs", 0, ""),
    ("rate_per_min", "rate", 2, "/min"),
    ("amplitude_uv", "amplitude", 0, "µV"),
    ("duration_ms", "duration", 1, "ms"),
    ("phases", "phases", 0, ""),
    ("turns", "turns", 0, ""),
    ("cv_m_s", "conduction", 1, "m/s"),
    ("iz_mm", "IZ", 0, "mm"),
    ("stability", "stability", 2, ""),
    ("doublets", "doublets", 0, ""),
    ("quality", "quality", 2, ""),
)


def unit_gallery(
    out: AnalysisOutputs, grid: Grid | None, max_units: int = 12
) -> tuple[list[UnitCard], int]:
    """Cards of the most active units: template on the grid, spatial map, numbers.

    Returns the cards and the number of units left out.
    """
    fp = out.fasciculations
    ids: list[int] = []
    if out.units is not None and "unit" in out.units and len(out.units):
        table = out.units.copy()
        table["unit"] = table["unit"].astype(int)
        if "n_fp" in table:
            table = table.sort_values("n_fp", ascending=False, kind="stable")
        ids = [int(u) for u in table["unit"] if int(u) >= 0]
        rows = {int(r["unit"]): r for _, r in table.iterrows()}
    else:
        counts = fp.loc[fp["unit"] >= 0, "unit"].value_counts()
        ids = [int(u) for u in counts.index]
        rows = {}
    ids += [u for u in sorted(out.templates) if u not in ids]
    shown, left_out = ids[:max_units], max(len(ids) - max_units, 0)
    fs = out.templates_fs or out.fs
    labels = out.channels
    cards = []
    for u in shown:
        tpl = out.templates.get(u)
        use_grid = (
            grid
            if (tpl is not None and grid is not None and grid.n_channels == tpl.shape[1])
            else None
        )
        template_uri = map_uri = None
        if tpl is not None:
            template_uri = figure_uri(
                _new(
                    plot_unit_template,
                    tpl,
                    use_grid,
                    fs,
                    examples=out.examples.get(u),
                    unit=u,
                ),
                fmt="png",
                dpi=90,
            )
            ptp = np.ptp(tpl, axis=0)
            map_uri = figure_uri(
                _new(
                    plot_grid_heatmap,
                    ptp,
                    use_grid,
                    labels=labels if len(labels) == tpl.shape[1] else None,
                    colorbar_label="µV p-p",
                    cmap="viridis",
                    annotate=False,
                    title="peak-to-peak",
                )
            )
        stats: list[tuple[str, str]] = []
        row = rows.get(u)
        if row is not None:
            for key, name, digits, unit in _UNIT_STATS:
                if key in row.index:
                    stats.append((name, _fmt(row[key], digits, unit)))
            if "stable" in row.index and row["stable"] is not None:
                stats.append(
                    (
                        "stable",
                        "yes"
                        if str(row["stable"]).lower() in ("true", "1", "1.0", "yes")
                        else "no",
                    )
                )
        else:
            stats.append(("FPs", str(int((fp["unit"] == u).sum()))))
        cards.append(UnitCard(u, unit_colour(u), template_uri, map_uri, stats))
    return cards, left_out


def _pick_examples(out: AnalysisOutputs, n: int) -> list[int]:
    """Row indices of FPs worth showing: the largest FP of each busiest unit."""
    fp = out.fasciculations
    if not len(fp):
        return []
    amp = fp["amplitude_uv"].to_numpy(dtype=float) if "amplitude_uv" in fp else np.zeros(len(fp))
    amp = np.where(np.isfinite(amp), amp, -np.inf)
    picks: list[int] = []
    if out.has_units:
        order = fp.loc[fp["unit"] >= 0, "unit"].value_counts().index
        for u in order[:n]:
            rows = np.flatnonzero(fp["unit"].to_numpy() == u)
            # a typical discharge: the one of median amplitude
            mid = rows[np.argsort(amp[rows])[len(rows) // 2]]
            picks.append(int(mid))
    if len(picks) < n:
        order = np.argsort(amp)[::-1]
        quantiles = np.linspace(0, len(order) - 1, n).round().astype(int)
        for q in quantiles:
            if len(picks) >= n:
                break
            if int(order[q]) not in picks:
                picks.append(int(order[q]))
    return sorted(picks, key=lambda i: float(fp["time_s"].iloc[i]))


def _context_channels(peak: int, recording: Recording, grid: Grid | None, k: int = 4) -> list[int]:
    """The peak channel and its nearest neighbours, in grid order."""
    if grid is not None and grid.n_channels == recording.n_channels:
        near = list(grid.neighbours(peak, diagonal=False))
        if len(near) < k:
            near += [c for c in grid.neighbours(peak, diagonal=True) if c not in near]
        chans = [peak, *near[:k]]
        rc = np.asarray(grid.rowcol)
        return sorted(chans, key=lambda c: (rc[c, 1], rc[c, 0]))
    lo = max(0, peak - k // 2)
    hi = min(recording.n_channels, lo + k + 1)
    return list(range(max(0, hi - k - 1), hi))


def example_fps(
    out: AnalysisOutputs, recording: Recording, grid: Grid | None, n: int = 4
) -> list[ExampleFP]:
    """Up to ``n`` FPs drawn from the recording: ±50 ms on the peak channel and neighbours."""
    fp = out.fasciculations
    if "channel" not in fp:
        return []
    lookup = {lab: i for i, lab in enumerate(recording.channel_labels)}
    fs = recording.fs
    margin = round(0.1 * fs)
    half = round(CONTEXT_S * fs)
    sos = sps.butter(2, CONTEXT_HIGHPASS_HZ, btype="highpass", fs=fs, output="sos")
    examples = []
    for i in _pick_examples(out, n):
        row = fp.iloc[i]
        peak = lookup.get(str(row["channel"]))
        if peak is None:
            continue
        chans = _context_channels(peak, recording, grid)
        centre = round(float(row["time_s"]) * fs)
        raw = recording.get_padded(centre - half - margin, centre + half + margin + 1, chans)
        filtered = sps.sosfiltfilt(sos, raw, axis=0)[margin : margin + 2 * half + 1]
        unit = int(row["unit"])
        fig = _new(
            plot_fp_example,
            filtered,
            fs,
            [recording.channel_labels[c] for c in chans],
            t0_s=(centre - half) / fs,
            peak_s=float(row["time_s"]),
            highlight=chans.index(peak),
            unit=unit if unit >= 0 else None,
        )
        amp = row.get("amplitude_uv")
        examples.append(
            ExampleFP(
                f"{float(row['time_s']):.3f} s" + (f" · unit {unit}" if unit >= 0 else ""),
                figure_uri(fig, fmt="png", dpi=90),
                f"Peak channel {row['channel']}"
                + (f", {float(amp):.0f} µV p-p" if amp is not None and np.isfinite(amp) else "")
                + f"; high-pass {CONTEXT_HIGHPASS_HZ:g} Hz.",
            )
        )
    return examples
