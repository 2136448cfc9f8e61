"""Draw a simulated fasciculation potential on the 13 x 5 grid (docs/img/simulated_fp.png).

python docs/make_simulator_figure.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from fasciq.simulate import simulate


def main() -> None:
    """Simulate an ALS recording and draw one unit's MUAP on the grid."""
    sim = simulate(preset="als", duration_s=30.0, seed=1)
    units = sim.truth.units
    fasc = units[units["class"] == "fasciculating"]
    unit = int(fasc.sort_values("ptp_uv").iloc[len(fasc) * 2 // 3]["unit"])
    row = units.set_index("unit").loc[unit]
    wave = sim.template(unit)  # (n, 64) µV, noise-free
    fs = sim.recording.fs
    grid = sim.recording.grid
    pos = grid.positions_mm
    t = np.arange(wave.shape[0]) / fs
    scale = 0.8 * grid.ied_mm / np.abs(wave).max()
    width = 0.8 * grid.ied_mm / t[-1]
    fig, ax = plt.subplots(figsize=(4.2, 7.5), dpi=90)
    for ch in range(wave.shape[1]):
        x0, y0 = pos[ch]
        ax.plot(x0 - 0.4 * grid.ied_mm + t * width, y0 - wave[:, ch] * scale, lw=0.8, color="k")
    ax.plot(
        [pos[:, 0].max() + 5, pos[:, 0].max() + 5],
        [pos[:, 1].max(), pos[:, 1].max() - 100 * scale],
        color="C3",
        lw=2,
    )
    ax.text(
        pos[:, 0].max() + 6,
        pos[:, 1].max() - 50 * scale,
        "100 µV",
        color="C3",
        fontsize=7,
        rotation=90,
        va="center",
    )
    ax.set_xlim(pos[:, 0].min() - 6, pos[:, 0].max() + 10)
    ax.set_ylim(pos[:, 1].max() + 6, pos[:, 1].min() - 6)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm), along the fibres")
    ax.set_title(
        f"simulated FP, unit {unit}: {int(row['n_fibres'])} fibres,\n"
        f"depth {row['depth_mm']:.1f} mm, CV {row['cv_m_s']:.2f} m/s, "
        f"{t[-1] * 1e3:.0f} ms per trace",
        fontsize=8,
    )
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    out = Path(__file__).parent / "img" / "simulated_fp.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


if __name__ == "__main__":
    main()
