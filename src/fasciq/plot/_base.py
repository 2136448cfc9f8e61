"""What every figure shares: headless axes, colours per reason and per unit."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

#: Colour of each exclusion reason (others get :data:`OTHER_REASON_COLOUR`).
REASON_COLOURS: dict[str, str] = {
    "voluntary": "#e69f00",
    "artefact": "#d55e00",
    "artifact": "#d55e00",
    "noise": "#7f7f7f",
    "saturation": "#cc79a7",
    "flat": "#56b4e9",
    "bad": "#cc79a7",
}
OTHER_REASON_COLOUR = "#9467bd"
#: Colour of FPs that belong to no unit.
UNSORTED_COLOUR = "#6b7280"
#: Main colour for FP counts and rates.
FP_COLOUR = "#2563eb"

# colour-blind-friendly cycle for motor units (Okabe-Ito extended by tab10)
_UNIT_CYCLE = (
    "#0072b2",
    "#009e73",
    "#d55e00",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#8c564b",
    "#bcbd22",
    "#1f2937",
    "#9467bd",
    "#17becf",
    "#f0e442",
)


def reason_colour(reason: str) -> str:
    """Colour used for an exclusion reason everywhere (figures and report)."""
    return REASON_COLOURS.get(str(reason).strip().lower(), OTHER_REASON_COLOUR)


def unit_colour(unit: int) -> str:
    """Colour of a motor unit, stable across figures (-1: unsorted, grey)."""
    unit = int(unit)
    if unit < 0:
        return UNSORTED_COLOUR
    return _UNIT_CYCLE[unit % len(_UNIT_CYCLE)]


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Return ``(figure, axes)``: the given axes, or a new headless figure.

    A new figure is a plain :class:`matplotlib.figure.Figure` (no pyplot, no
    GUI backend), so drawing works in scripts, servers and notebooks alike.
    """
    if ax is not None:
        return root_figure(ax), ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def root_figure(ax: Axes) -> Figure:
    """The top-level figure an axes belongs to (also inside sub-figures)."""
    fig = ax.figure
    while getattr(fig, "figure", fig) is not fig and fig is not None:
        fig = fig.figure
    return fig  # type: ignore[return-value]


def tidy(ax: Axes) -> None:
    """Light, uncluttered axes: no top/right spines, faint grid."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(True, color="#e5e7eb", linewidth=0.6)
    ax.set_axisbelow(True)


def as_float_array(values: Iterable[float] | np.ndarray, name: str) -> np.ndarray:
    """1-D float array of finite values (NaN and inf dropped)."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    arr = arr.reshape(-1)
    return arr[np.isfinite(arr)]
