"""The :class:`Result` of an analysis: FP table, excluded spans, summary — and its files.

``Result.save(outdir)`` writes the output contract of ``fasciq analyze``:

* ``fasciculations.csv`` — one row per FP;
* ``excluded.csv`` — ``start_s,end_s,reason`` of every span not analysed;
* ``summary.json`` — rates, analysed time, bad channels, provenance and
  every parameter used;
* ``units.csv`` and ``templates.npz`` — the putative motor units, when the
  FPs were sorted;
* ``report.html`` — the human-readable report.

Writing is atomic: everything goes into a hidden temporary folder beside
``outdir`` that is renamed onto it only when complete, so an interrupted run
never leaves a folder that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fasciq.errors import FormatError, OutputExistsError

FILES = ("fasciculations.csv", "excluded.csv", "summary.json")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        value = float(obj)
        return value if np.isfinite(value) else None
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj


def output_free(outdir: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Raise :class:`OutputExistsError` if ``outdir`` holds a result and ``overwrite`` is off."""
    out = Path(outdir)
    if out.exists() and not overwrite and (out.is_file() or any(out.iterdir())):
        raise OutputExistsError(
            "output folder already exists and is not empty",
            fix="choose another -o OUTDIR or pass --overwrite",
            source=out,
        )
    return out


@dataclass
class Result:
    """What :func:`fasciq.analyze` found.

    Attributes
    ----------
    fasciculations : DataFrame
        One row per FP: ``time_s``, ``unit``, ``channel``, ``amplitude_uv``,
        ``duration_ms``, ``phases``, ``turns``, ``area_uv_ms``,
        ``n_channels``, ``centroid_x_mm``, ``centroid_y_mm``.
    excluded : DataFrame
        ``start_s``, ``end_s``, ``reason`` of every span not analysed.
    summary : dict
        Rates with their 95 % interval, analysed and excluded time, bad
        channels, mains frequency, provenance and parameters.
    units : DataFrame or None
        One row per putative motor unit (the ``units.csv`` columns), when
        the FPs were sorted.
    sorting : SortingResult or None
        The full sorting (templates, examples, patterns) of a fresh
        analysis; ``None`` after :meth:`load`.
    """

    fasciculations: pd.DataFrame
    excluded: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    units: pd.DataFrame | None = None
    sorting: Any = None

    @property
    def per_minute(self) -> pd.DataFrame:
        """FP count and rate per minute of recording, with the analysed time of each."""
        return pd.DataFrame(
            self.summary.get("per_minute", []),
            columns=["start_s", "end_s", "analysed_s", "n_fp", "fp_per_min"],
        )

    def save(
        self,
        outdir: str | os.PathLike[str],
        overwrite: bool = False,
        *,
        recording: Any = None,
        report: bool = True,
    ) -> Path:
        """Write the result files into ``outdir`` atomically.

        Parameters
        ----------
        outdir : path
            Folder to create.
        overwrite : bool
            Replace an existing non-empty folder.
        recording : Recording or path, optional
            The analysed recording, for the report's example FPs (read from
            ``summary.json``'s source when not given).
        report : bool
            Also write ``report.html``.

        Returns
        -------
        Path
            ``outdir``.
        """
        out = output_free(outdir, overwrite)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            self.fasciculations.to_csv(tmp / "fasciculations.csv", index=False, float_format="%.6g")
            self.excluded.to_csv(tmp / "excluded.csv", index=False, float_format="%.6f")
            if self.sorting is not None:
                from fasciq.units.output import save_sorting

                save_sorting(self.sorting, tmp)
            elif self.units is not None:
                self.units.to_csv(tmp / "units.csv", index=False, float_format="%.6g")
            (tmp / "summary.json").write_text(
                json.dumps(_jsonable(self.summary), indent=2), encoding="utf-8"
            )
            if report:
                self._render_report(tmp, recording)
            old = None
            if out.exists():
                old = out.parent / f".{out.name}.old-{os.getpid()}"
                os.replace(out, old)
            os.replace(tmp, out)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.rmtree(tmp)
            raise
        return out

    @classmethod
    def load(cls, outdir: str | os.PathLike[str]) -> Result:
        """Read a result folder written by :meth:`save` (or ``fasciq analyze``)."""
        out = Path(outdir)
        missing = [f for f in FILES if not (out / f).is_file()]
        if missing:
            raise FormatError(
                f"not a complete fasciq result folder (missing {', '.join(missing)})",
                fix="run fasciq analyze RECORDING -o OUTDIR to create it",
                source=out,
            )
        try:
            fps = pd.read_csv(out / "fasciculations.csv", dtype={"channel": str})
            excluded = pd.read_csv(out / "excluded.csv", dtype={"reason": str})
            summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        except (ValueError, pd.errors.ParserError) as exc:
            raise FormatError(
                f"cannot read the result files: {exc}",
                fix="re-run fasciq analyze with --overwrite",
                source=out,
            ) from exc
        units = None
        if (out / "units.csv").is_file():
            units = pd.read_csv(out / "units.csv")
        return cls(fps, excluded, summary, units=units)

    @staticmethod
    def _render_report(folder: Path, recording: Any) -> None:
        """Write ``report.html``; a failure here never costs the results themselves."""
        from fasciq._logging import logger
        from fasciq.errors import FasciqError
        from fasciq.report.html import render_report

        try:
            render_report(folder, recording=recording, overwrite=True)
        except (FasciqError, OSError, ValueError) as exc:
            logger.warning("report.html was not written: %s", exc)

    def __repr__(self) -> str:
        rate = self.summary.get("fp_per_min")
        rate_txt = "n/a" if rate is None else f"{rate:.1f}/min"
        return (
            f"<Result {len(self.fasciculations)} FPs, {rate_txt}, "
            f"analysed {self.summary.get('analysed_s', 0):.1f} s, "
            f"excluded {self.summary.get('excluded_s', 0):.1f} s>"
        )
