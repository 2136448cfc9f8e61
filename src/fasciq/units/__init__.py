"""Motor-unit sorting of FPs, per-unit description and discharge patterns."""

from fasciq.units.output import save_sorting
from fasciq.units.params import (
    ClusterParams,
    DescribeParams,
    PatternParams,
    SnippetParams,
    SortingParams,
)
from fasciq.units.snippets import (
    SnippetRows,
    SnippetSource,
    extract_snippets,
    snippets_from_chunk,
)
from fasciq.units.sorting import (
    DISCHARGE_COLUMNS,
    UNIT_COLUMNS,
    SortingResult,
    sort_recording,
    sort_units,
    update_unit_statistics,
)

__all__ = [
    "DISCHARGE_COLUMNS",
    "UNIT_COLUMNS",
    "ClusterParams",
    "DescribeParams",
    "PatternParams",
    "SnippetParams",
    "SnippetRows",
    "SnippetSource",
    "SortingParams",
    "SortingResult",
    "extract_snippets",
    "save_sorting",
    "snippets_from_chunk",
    "sort_recording",
    "sort_units",
    "update_unit_statistics",
]
