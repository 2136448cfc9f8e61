"""Validated parameters of motor-unit sorting, description and discharge patterns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from fasciq.errors import ParameterError
from fasciq.validate import check_in_range, check_int, check_positive


@dataclass(frozen=True)
class SnippetParams:
    """Where and how multichannel waveforms are cut around each FP.

    Parameters
    ----------
    before_ms, after_ms : float
        Window before and after the FP time (the FP's largest peak).
    low_hz, high_hz : float
        Band-pass applied before cutting (as in detection).
    chunk_s : float
        Length of the blocks read from the recording; memory for reading is
        bounded by one block, whatever the recording's length.
    remove_line : bool
        Notch the mains frequency and its harmonics (found in the first
        ``prescan_s`` seconds when ``line_freq`` is not given). Mains
        interference is common to all channels and would otherwise dominate
        the waveform features of small units.
    line_freq : float or None
        Mains frequency in Hz (50 or 60); detected when None.
    line_bandwidth_hz : float
        Width of each notch.
    prescan_s : float
        Length read to detect the mains harmonics.
    """

    before_ms: float = 15.0
    after_ms: float = 15.0
    low_hz: float = 20.0
    high_hz: float = 450.0
    chunk_s: float = 30.0
    remove_line: bool = True
    line_freq: float | None = None
    line_bandwidth_hz: float = 2.0
    prescan_s: float = 20.0

    def __post_init__(self) -> None:
        for name in (
            "before_ms",
            "after_ms",
            "low_hz",
            "high_hz",
            "chunk_s",
            "line_bandwidth_hz",
            "prescan_s",
        ):
            check_positive(getattr(self, name), name)
        if self.line_freq is not None:
            check_positive(self.line_freq, "line_freq")
        if self.high_hz <= self.low_hz:
            raise ParameterError(
                f"high_hz ({self.high_hz}) must be above low_hz ({self.low_hz})",
                fix="give a pass band such as low_hz=20, high_hz=450",
                source="high_hz",
            )

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class ClusterParams:
    """Features, clustering, merging, splitting and template matching.

    Parameters
    ----------
    max_shift_ms : float
        Largest re-alignment of a snippet on its multichannel energy peak
        (and of the first unit in a two-unit fit of overlapping discharges).
    feature_ms : float
        Half-width of the waveform window used for features and matching.
    n_feature_channels : int
        Channels (largest mean peak-to-peak) whose waveforms enter the PCA.
    n_wave_components, n_map_components : int
        PCA components of the concatenated waveforms and of the
        peak-to-peak maps over the grid.
    map_weight : float
        Weight of the amplitude-map components relative to the waveform
        components (both in µV).
    min_cluster_size : int
        Smallest group of FPs that can form a unit (HDBSCAN).
    merge_correlation : float
        Clusters merge when their aligned templates correlate at least this
        much ...
    merge_map_correlation : float
        ... and their peak-to-peak maps at least this much ...
    merge_amplitude_ratio : float
        ... and their peak-to-peak amplitudes differ by less than this factor
        (twins).
    merge_min_correlation, merge_min_map_correlation : float
        Clusters that are not twins are still merged when their templates
        and maps correlate at least this much and their discharges are not
        separable: ...
    merge_dprime : float
        ... d′ (distance between the two groups along the line joining
        their templates, over the groups' spread, never below the noise's)
        below this. Two halves of one unit split by noise give 1–3.
    max_lag_ms : float
        Largest re-alignment of one unit's discharges relative to another's
        or to a template (the largest peak of a MUAP with two phases of
        similar size can fall on either phase).
    small_unit_size : int
        Fewest discharges of a unit found among the FPs that no cluster
        explains (second pass; 0 turns it off) ...
    small_unit_distance : float
        ... when every pair of them differs by at most this (noise-normalised
        distance, about 1 for two discharges of one unit) ...
    small_unit_snr : float
        ... and their template stands this many noise σ above the noise.
    split_min_fraction : float
        A cluster splits only if each part keeps this fraction of its FPs.
    match_threshold : float
        An FP belongs to a template when its normalised residual (residual
        energy / snippet energy on the template's channels) is below this,
        or when its residual is within 1.5 times the noise energy while the
        template removes more than the noise holds (small units in strong
        noise).
    max_incoherence : float
        A cluster whose discharges leave, in median, more than this
        fraction of its template's energy unexplained beyond noise (shape
        variability; below 0.1 for one unit, even an unstable one) is
        dissolved and its FPs regrouped (false detections, or two small
        units with alike maps); 0 turns it off.
    redundant_fraction : float
        A unit with at most this fraction of the largest unit's FPs is
        dropped (its FPs matched again) when the larger units' templates
        accept most of its FPs ...
    redundant_gain : float
        ... and its own template lowers their median residual less than
        this many times (a distinct unit's FPs fit their own template far
        better; a group of overlapped or deformed discharges of a large
        unit does not). ``redundant_fraction`` 0 turns it off.
    overlap : bool
        Try a two-template fit for FPs that no single template explains
        (overlapping discharges of two units).
    max_fit : int
        FPs used to fit the PCA and the clustering; the others are assigned
        by template matching (bounds the time on very long recordings).
    """

    max_shift_ms: float = 1.5
    feature_ms: float = 8.0
    n_feature_channels: int = 24
    n_wave_components: int = 8
    n_map_components: int = 5
    map_weight: float = 2.0
    min_cluster_size: int = 4
    merge_correlation: float = 0.9
    merge_map_correlation: float = 0.9
    merge_amplitude_ratio: float = 1.6
    merge_min_correlation: float = 0.5
    merge_min_map_correlation: float = 0.5
    merge_dprime: float = 4.0
    max_lag_ms: float = 4.5
    small_unit_size: int = 3
    small_unit_distance: float = 1.5
    small_unit_snr: float = 8.0
    split_min_fraction: float = 0.1
    match_threshold: float = 0.65
    max_incoherence: float = 0.15
    redundant_fraction: float = 0.05
    redundant_gain: float = 10.0
    overlap: bool = True
    max_fit: int = 6000

    def __post_init__(self) -> None:
        check_positive(self.max_shift_ms, "max_shift_ms", allow_zero=True)
        check_positive(self.feature_ms, "feature_ms")
        check_positive(self.max_lag_ms, "max_lag_ms", allow_zero=True)
        check_positive(self.merge_dprime, "merge_dprime", allow_zero=True)
        check_positive(self.small_unit_distance, "small_unit_distance")
        check_positive(self.small_unit_snr, "small_unit_snr", allow_zero=True)
        check_positive(self.map_weight, "map_weight", allow_zero=True)
        check_positive(self.max_incoherence, "max_incoherence", allow_zero=True)
        check_in_range(self.redundant_fraction, "redundant_fraction", 0.0, 1.0)
        check_positive(self.redundant_gain, "redundant_gain")
        for name, low in (
            ("n_feature_channels", 1),
            ("n_wave_components", 1),
            ("n_map_components", 0),
            ("min_cluster_size", 2),
            ("small_unit_size", 0),
            ("max_fit", 50),
        ):
            check_int(getattr(self, name), name, low)
        for name in (
            "merge_correlation",
            "merge_map_correlation",
            "merge_min_correlation",
            "merge_min_map_correlation",
            "match_threshold",
        ):
            check_in_range(getattr(self, name), name, 0.0, 1.0)
        check_in_range(self.split_min_fraction, "split_min_fraction", 0.0, 0.5)
        if self.merge_amplitude_ratio < 1:
            raise ParameterError(
                f"merge_amplitude_ratio must be ≥ 1, got {self.merge_amplitude_ratio!r}",
                fix="give a ratio such as 1.6",
                source="merge_amplitude_ratio",
            )

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class DescribeParams:
    """Per-unit description: morphology, stability and propagation.

    Parameters
    ----------
    polyphasic_phases : int
        A template with more phases than this is polyphasic (clinical
        convention: more than 4).
    edge_fraction : float
        Onset/end of the template where its peak channel leaves this
        fraction of its peak (as for single FPs).
    unstable_threshold : float
        A unit is ``unstable`` when the median noise-corrected normalised
        residual variance of its discharges (shape variability, 0 for a
        perfectly repeating shape) exceeds this. On simulated recordings,
        after sub-sample alignment, units of repeating shape stay below
        0.015 (most below 0.005) and units with 20 % fibre-group blocking
        and 250 µs jitter lie between 0.018 and 0.10.
    min_stability_snr : float
        Units whose template peak-to-peak is below this many noise σ are
        never called unstable: the noise estimate's own error is then of
        the size of the effect.
    cv_min_m_s, cv_max_m_s : float
        Range searched for the conduction velocity.
    min_propagating_channels : int
        Single-differential channels needed along a fibre line to estimate
        the velocity.
    propagation_correlation : float
        Consecutive single-differential channels belong to the propagating
        part when they correlate this much after alignment.
    min_cv_discharges : int
        Units with fewer discharges get no velocity (their template is too
        noisy).
    """

    polyphasic_phases: int = 4
    edge_fraction: float = 0.1
    unstable_threshold: float = 0.015
    min_stability_snr: float = 15.0
    cv_min_m_s: float = 1.5
    cv_max_m_s: float = 10.0
    min_propagating_channels: int = 3
    propagation_correlation: float = 0.7
    min_cv_discharges: int = 3

    def __post_init__(self) -> None:
        check_int(self.polyphasic_phases, "polyphasic_phases", 1)
        check_int(self.min_propagating_channels, "min_propagating_channels", 2)
        check_int(self.min_cv_discharges, "min_cv_discharges", 1)
        check_in_range(self.edge_fraction, "edge_fraction", 0.0, 1.0)
        check_positive(self.unstable_threshold, "unstable_threshold")
        check_positive(self.min_stability_snr, "min_stability_snr", allow_zero=True)
        check_positive(self.cv_min_m_s, "cv_min_m_s")
        check_positive(self.cv_max_m_s, "cv_max_m_s")
        check_in_range(self.propagation_correlation, "propagation_correlation", 0.0, 1.0)
        if self.cv_max_m_s <= self.cv_min_m_s:
            raise ParameterError(
                f"cv_max_m_s ({self.cv_max_m_s}) must be above cv_min_m_s ({self.cv_min_m_s})",
                fix="give a range such as 1.5 to 10 m/s",
                source="cv_max_m_s",
            )

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class PatternParams:
    """Discharge patterns.

    Parameters
    ----------
    doublet_min_s, doublet_max_s : float
        Two discharges of one unit this close form a double discharge
        (literature: 10–110 ms).
    isolated_s : float
        A discharge is isolated when both neighbouring intervals of its unit
        exceed this (250 ms), otherwise continual.
    lock_window_s : float
        Largest latency between two units' discharges considered for
        time-locking.
    lock_bin_s : float
        Width of the cross-correlogram peak (latency consistency).
    lock_min_pairs : int
        Fewest coincidences needed to call two units time-locked.
    lock_alpha : float
        Significance level against shuffled trains.
    n_shuffles : int
        Shuffles (circular shifts) of the surrogate test.
    """

    doublet_min_s: float = 0.010
    doublet_max_s: float = 0.110
    isolated_s: float = 0.250
    lock_window_s: float = 0.100
    lock_bin_s: float = 0.004
    lock_min_pairs: int = 5
    lock_alpha: float = 0.01
    n_shuffles: int = 200

    def __post_init__(self) -> None:
        for name in ("doublet_min_s", "doublet_max_s", "isolated_s", "lock_window_s", "lock_bin_s"):
            check_positive(getattr(self, name), name)
        if self.doublet_max_s <= self.doublet_min_s:
            raise ParameterError(
                f"doublet_max_s ({self.doublet_max_s}) must be above doublet_min_s "
                f"({self.doublet_min_s})",
                fix="give a range such as 0.010 to 0.110 s",
                source="doublet_max_s",
            )
        check_int(self.lock_min_pairs, "lock_min_pairs", 2)
        check_int(self.n_shuffles, "n_shuffles", 10)
        check_in_range(self.lock_alpha, "lock_alpha", 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class SortingParams:
    """Every parameter of :func:`~fasciq.units.sorting.sort_units`.

    Parameters
    ----------
    cluster, describe, patterns : dataclasses
        Parameters of each stage.
    memory_mb : float
        Memory budget of sorting, in MiB: the noise-whitened snippets held
        in memory together with the windows cut from them (about as much
        again). Up to the budget every FP is held and sorted at once. Beyond
        it (a long or dense recording: a 128-channel snippet takes 32 kB at
        2 kHz) units are found on FPs spread evenly over the recording that
        fit the budget; every FP is then assigned by template matching,
        block by block, read from wherever the snippets are kept (a file
        during an analysis); the FPs no unit explains are clustered again
        (so units that discharge rarely or late are not lost), and each
        unit is described from at most
        :data:`~fasciq.units.sorting.MAX_DESCRIBED` of its discharges spread
        over the recording. Memory then stays flat whatever the length of
        the recording. The result depends on the budget only beyond it.
    """

    cluster: ClusterParams = field(default_factory=ClusterParams)
    describe: DescribeParams = field(default_factory=DescribeParams)
    patterns: PatternParams = field(default_factory=PatternParams)
    memory_mb: float = 256.0

    def __post_init__(self) -> None:
        check_positive(self.memory_mb, "memory_mb")

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a nested dictionary."""
        return {
            "cluster": self.cluster.to_dict(),
            "describe": self.describe.to_dict(),
            "patterns": self.patterns.to_dict(),
            "memory_mb": self.memory_mb,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SortingParams:
        """Inverse of :meth:`to_dict` (missing keys take their defaults)."""
        data = dict(data or {})
        unknown = set(data) - {"cluster", "describe", "patterns", "memory_mb"}
        if unknown:
            raise ParameterError(
                f"unknown sorting parameter group(s) {', '.join(sorted(unknown))}",
                fix="use the groups cluster, describe and patterns (and memory_mb)",
                source="sorting parameters",
            )
        extra = {"memory_mb": data["memory_mb"]} if "memory_mb" in data else {}
        try:
            return cls(
                cluster=ClusterParams(**data.get("cluster", {})),
                describe=DescribeParams(**data.get("describe", {})),
                patterns=PatternParams(**data.get("patterns", {})),
                **extra,
            )
        except TypeError as exc:
            raise ParameterError(
                f"bad sorting parameter: {exc}",
                fix="check the parameter names against SortingParams",
                source="sorting parameters",
            ) from None
