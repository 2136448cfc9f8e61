"""The self-contained HTML report and the reading of saved analysis folders."""

from __future__ import annotations

from fasciq.report.html import DISCLAIMER, REPORT_NAME, render_html, render_report
from fasciq.report.outputs import AnalysisOutputs, load_outputs

__all__ = [
    "DISCLAIMER",
    "REPORT_NAME",
    "AnalysisOutputs",
    "load_outputs",
    "render_html",
    "render_report",
]
