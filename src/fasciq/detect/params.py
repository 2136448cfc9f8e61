"""Small validated parameter dataclasses of the detection stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from fasciq.errors import ParameterError
from fasciq.validate import check_in_range, check_int, check_positive


@dataclass(frozen=True)
class DetectParams:
    """Settings of the multichannel FP detector.

    Parameters
    ----------
    method : str
        Detector name in the registry (``"spatial"`` or ``"threshold"``).
    k_high : float
        A peak must reach ``k_high`` × the tracked noise σ on its channel.
    k_low : float
        A channel counts as taking part in an event above ``k_low`` × σ.
    min_channels : int
        Channels of the peak's neighbourhood (itself included) that must take
        part (lowered to what the neighbourhood holds; 1 on a single channel).
    support_ms : float
        Time tolerance (±) between neighbouring channels when counting them.
    neighbour_fraction : float
        The neighbours counted for an event must reach this fraction of its
        peak (in σ units): a MUAP spreads smoothly, a pop does not.
    phase_ms : float
        Peaks of one MUAP on neighbouring channels lie within this many ms of
        each other (its phases).
    max_phase_ms : float
        Longest one-signed excursion through an FP's peak (a MUAP phase lasts
        a few ms; a pop's decay or a motion swing lasts longer).
    velocity_m_s : float
        Slowest propagation expected along the fibres: peaks further apart
        in space may be further apart in time and still be one MUAP.
    max_window_ms : float
        Longest span of one MUAP around its largest peak (caps the above).
    secondary_fraction : float
        Within ``max_window_ms`` a peak of the same footprint below this
        fraction of the largest one is one of its late components; so is,
        anywhere on the grid, one within the time the potential needs to
        propagate there (its far field).
    simultaneous_ms : float
        A peak no larger than the largest one and within this many ms of
        it, anywhere on the grid, is one of its end-of-fibre components
        (they appear at the grid's far ends together with the discharge).
    k_energy : float
        Spatial integration (0: off): a peak of at least ``k_peak_energy`` σ
        whose neighbourhood (itself and its neighbours, each clipped at
        2 × ``k_energy`` so that one loud electrode cannot pass alone) has an RMS of
        its ±``support_ms`` peaks of at least ``k_energy`` σ is a candidate
        even below ``k_high`` — a small MUAP is seen by all its neighbours
        at once, noise is not.
    k_peak_energy : float
        Smallest peak (σ) of a candidate found by spatial integration.
    k_coherent : float
        Signed spatial integration (0: off): each channel's trace in σ
        (clipped at ``k_peak_energy``) summed with its neighbours' and
        averaged over ``coherent_ms``, divided by the sum's own robust
        spread, must reach this for a candidate whose channel exceeds
        ``k_low`` σ — a small MUAP seen with one sign by all its
        neighbours adds up, independent noise does not (such candidates
        count, like the above, only apart from larger discharges).
    coherent_ms : float
        Averaging time of the signed sum (about one MUAP phase).
    remove_common : bool
        Detect on traces without what is smooth over the whole grid (the
        best-fitting plane per sample, or the channel mean without
        geometry, fitted to traces clipped at 4 × ``k_high`` σ so that a pop or
        a large MUAP does not leak into it): ECG, motion and common line
        noise; features are still measured on the unaltered traces.
    """

    method: str = "spatial"
    k_high: float = 5.0
    k_low: float = 3.0
    min_channels: int = 3
    support_ms: float = 1.0
    neighbour_fraction: float = 0.2
    phase_ms: float = 10.0
    max_phase_ms: float = 15.0
    velocity_m_s: float = 2.5
    max_window_ms: float = 20.0
    secondary_fraction: float = 0.5
    simultaneous_ms: float = 1.5
    k_energy: float = 3.0
    k_peak_energy: float = 4.0
    k_coherent: float = 6.0
    coherent_ms: float = 2.5
    remove_common: bool = True

    def __post_init__(self) -> None:
        check_positive(self.k_high, "k_high")
        check_positive(self.k_low, "k_low")
        if self.k_low > self.k_high:
            raise ParameterError(
                f"k_low ({self.k_low}) must not exceed k_high ({self.k_high})",
                fix="choose e.g. k_low=3, k_high=5",
                source="k_low",
            )
        check_int(self.min_channels, "min_channels", 1)
        check_positive(self.support_ms, "support_ms", allow_zero=True)
        check_in_range(self.neighbour_fraction, "neighbour_fraction", 0.0, 1.0)
        check_positive(self.phase_ms, "phase_ms")
        check_positive(self.velocity_m_s, "velocity_m_s")
        check_positive(self.max_phase_ms, "max_phase_ms")
        check_positive(self.max_window_ms, "max_window_ms")
        check_in_range(self.secondary_fraction, "secondary_fraction", 0.0, 1.0)
        check_positive(self.simultaneous_ms, "simultaneous_ms", allow_zero=True)
        check_positive(self.k_energy, "k_energy", allow_zero=True)
        check_positive(self.k_peak_energy, "k_peak_energy")
        check_positive(self.k_coherent, "k_coherent", allow_zero=True)
        check_positive(self.coherent_ms, "coherent_ms")

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class FeatureParams:
    """Settings of FP feature extraction.

    Parameters
    ----------
    window_ms : float
        Half-width of the waveform window around the peak.
    edge_fraction : float
        Onset/end are where the peak channel leaves ``edge_fraction`` × its
        peak (or 2 σ, whichever is larger).
    tie_fraction : float
        Channels whose peak-to-peak reaches this fraction of the largest
        "tie" with it. A MUAP propagates, so these channels peak at
        different times; the FP's time is the centre of the span of their
        peak times — the estimate closest to all of them, whichever is the
        largest once noise is set aside (1: the largest channel's peak alone).
        On a MUAP that propagates away from its largest channel, this time
        lies a few ms after that channel's own peak; the largest channel's
        peak alone is exact when noise and the band-pass leave the largest
        channel where it is, and otherwise lands on another phase, often
        more than 10 ms away. Sorted FPs are timed again, at their unit's
        largest peak (:mod:`fasciq.units.timing`).
    search_ms : float
        Half-width of the search, around the detection, for the channel
        with the largest peak-to-peak and for the peaks of the tied
        channels: long enough for the potential to propagate over the
        grid, short enough that an overlapping discharge of another unit
        (tens of ms later) is not taken for this one.
    split_ms : float
        Two detections whose footprints meet and that lie further apart than
        this plus the propagation time between their channels are different
        discharges: each searches only its side of their midpoint (closer
        ones are parts of one discharge, and lead to one FP).
    split_velocity_m_s : float
        Slowest propagation assumed for that time.
    """

    window_ms: float = 20.0
    edge_fraction: float = 0.1
    tie_fraction: float = 0.7
    search_ms: float = 20.0
    split_ms: float = 10.0
    split_velocity_m_s: float = 2.5

    def __post_init__(self) -> None:
        check_positive(self.window_ms, "window_ms")
        check_positive(self.search_ms, "search_ms")
        check_positive(self.split_ms, "split_ms", allow_zero=True)
        check_positive(self.split_velocity_m_s, "split_velocity_m_s")
        check_in_range(self.edge_fraction, "edge_fraction", 0.0, 1.0)
        check_in_range(self.tie_fraction, "tie_fraction", 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class ActivityParams:
    """Settings of voluntary-activity exclusion.

    Parameters
    ----------
    level_ratio : float
        A window whose noise level (median over channels) exceeds the
        tracked rest level by this factor is densely active.
    coherence : float
        A window whose neighbouring channels agree in sign this much
        (0: independent noise, 1: identical) is densely active.
    min_active_s : float
        Dense activity must last this long to count as voluntary.
    pad_s : float
        Margin added on both sides of a voluntary span.
    train_min_events : int
        Discharges of one unit in a row that make a regular train.
    train_min_hz, train_max_hz : float
        Firing-rate range of voluntary trains.
    train_max_cv : float
        Largest coefficient of variation of the intervals of a train.
    join_s : float
        Voluntary spans closer than this are joined (the gap between two
        stretches of one contraction is not rest).
    require_trains : bool
        A dense span is voluntary only when a regular train lies in it (or
        within ``join_s``): an irregular storm of many fasciculating units
        is as dense as a contraction but is analysed. False: density alone
        excludes.
    sparse_kurtosis : float
        A dense span without a regular train is still voluntary when its
        median window kurtosis (median over channels) is below this: an
        interference pattern of many overlapping trains is nearly Gaussian
        (kurtosis about 3 to 8), a storm of separate FPs is heavy-tailed.
    filled_fraction : float
        Without neighbouring channels (a single channel), a window whose
        detected MUAPs together last at least this fraction of it is densely
        active (sparse FPs, even hundreds per minute, fill a few per cent).
    """

    level_ratio: float = 1.5
    coherence: float = 0.3
    min_active_s: float = 0.75
    pad_s: float = 0.3
    train_min_events: int = 8
    train_min_hz: float = 5.0
    train_max_hz: float = 25.0
    train_max_cv: float = 0.2
    join_s: float = 0.5
    require_trains: bool = True
    sparse_kurtosis: float = 10.0
    filled_fraction: float = 0.4

    def __post_init__(self) -> None:
        check_positive(self.level_ratio, "level_ratio")
        check_in_range(self.coherence, "coherence", 0.0, 1.0)
        check_positive(self.min_active_s, "min_active_s", allow_zero=True)
        check_positive(self.pad_s, "pad_s", allow_zero=True)
        check_int(self.train_min_events, "train_min_events", 3)
        check_positive(self.train_min_hz, "train_min_hz")
        check_positive(self.train_max_hz, "train_max_hz")
        check_positive(self.train_max_cv, "train_max_cv")
        check_positive(self.join_s, "join_s", allow_zero=True)
        check_positive(self.sparse_kurtosis, "sparse_kurtosis")
        check_positive(self.filled_fraction, "filled_fraction")
        if self.train_max_hz <= self.train_min_hz:
            raise ParameterError(
                "train_max_hz must be above train_min_hz",
                fix="give e.g. train_min_hz=5, train_max_hz=25",
                source="train_max_hz",
            )

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class ArtefactParams:
    """Settings of artefact rejection.

    Parameters
    ----------
    saturation_fraction : float
        Fraction of a window's samples at a channel's rails that counts as
        saturated.
    saturated_channels : float
        Fraction of good channels saturated at once that excludes the window.
    motion_ratio : float
        Low-frequency (< pass band) level, median over channels, above this
        multiple of its tracked value marks motion.
    noise_ratio : float
        A window whose in-band level is this many times the rest level on
        channels that do not move together (uncorrelated) is a noise burst.
    uniform_ratio : float
        An event whose smallest channel amplitude (10th percentile over the
        grid) is at least this fraction of its largest, on at least
        ``uniform_coverage`` of the channels, is grid-wide (ECG-like).
    uniform_coverage : float
        Fraction of channels above noise for the grid-wide test.
    """

    saturation_fraction: float = 0.05
    saturated_channels: float = 0.2
    motion_ratio: float = 6.0
    noise_ratio: float = 3.0
    uniform_ratio: float = 0.6
    uniform_coverage: float = 0.9

    def __post_init__(self) -> None:
        check_in_range(self.saturation_fraction, "saturation_fraction", 0.0, 1.0)
        check_in_range(self.saturated_channels, "saturated_channels", 0.0, 1.0)
        check_positive(self.motion_ratio, "motion_ratio")
        check_positive(self.noise_ratio, "noise_ratio")
        check_in_range(self.uniform_ratio, "uniform_ratio", 0.0, 1.0)
        check_in_range(self.uniform_coverage, "uniform_coverage", 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)
