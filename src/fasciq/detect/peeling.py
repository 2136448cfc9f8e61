"""Template peeling: overlapping FPs of different units separated by their templates.

Where FPs are dense (a storm of many units, tens per second) their MUAPs
overlap, and a detector that reads one discharge per MUAP span finds only
the largest of each overlap. Once the FPs are sorted, each unit's
multichannel template is known; a stretch of band-passed traces is then
explained as a sum of amplitude-scaled templates by greedy matching
pursuit ("peeling"):

1. every template is correlated with the noise-whitened traces at every
   lag (FFT cross-correlation summed over channels, in overlap-save blocks);
2. at each lag the best unit and its least-squares scale ``a`` (bounded to
   ``[min_scale, max_scale]``: a unit's discharges have much the same size)
   give the drop in residual energy, ``2 a c - a² E`` (in σ²);
3. the largest drops, at least a template length apart, that exceed
   ``k_fit²`` — the drop that noise alone reaches at ``k_fit`` σ — are
   refined to a fraction of a sample (a parabola through the correlation
   peak) and subtracted; the correlations are updated exactly from the
   precomputed template cross-correlations, with no new FFT;
4. this repeats until no drop exceeds ``k_fit²``;
5. greedy fits are made one at a time, and a large discharge can be taken
   by another unit's template at a lag where their shapes are alike, the
   gap then filled by small fits; a local search therefore adds each
   discharge back in turn and subtracts in its place the best fit of any
   unit within half a template length (or none, where none reaches
   ``k_fit²``), and the greedy peeling fills what that freed, pass after
   pass (``search_passes``), towards the least residual energy plus
   ``k_fit²`` per discharge;
6. greedy fits share the energy of a close overlap unevenly, so each
   discharge is then fitted again (position, fraction and scale) on the
   residual with itself added back, a few passes over all of them, and the
   scales of each group of overlapping discharges are solved together
   (least squares);
7. each discharge's share of the energy on its own channels and span, on
   the final residual with it added back, is measured: a fit that explains
   little of what lies there took up the leftovers of other discharges and
   is dropped (:func:`prune`).

Templates averaged over the first pass's snippets are short (a large
MUAP's tail is cut off, and left in the residual looks like a small
discharge) and blurred by the overlaps; :func:`learn_templates` fits them
again, longer, on the stretch itself by least squares over all the
discharges peeled from it, and the stretch is peeled again.

An FP's time is its largest peak: the largest absolute sample on the
channel with the largest peak-to-peak of the MUAP as it reaches the
electrodes. The band-pass can make the other of two near-equal phases the
larger, so each unit's reference sample (:func:`reference_samples`, at every
fraction of a sample) is read on its template learnt again, over the same
discharges, on traces with only the baseline removed.

Every subtraction is one discharge of its unit. The functions here are pure
array functions; :func:`fasciq.analysis.analyze` chooses the stretches
(:func:`dense_stretches`), re-reads and filters them as the stream does,
and merges the peeled discharges with the first-pass FPs
(:func:`match_times`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import signal as sps

from fasciq._logging import logger
from fasciq.detect.detector import Events
from fasciq.detect.features import event_features
from fasciq.detect.params import FeatureParams
from fasciq.errors import ParameterError
from fasciq.validate import check_in_range, check_positive

#: Passes of realignment after the greedy peeling (coordinate descent).
REALIGN_PASSES = 4
#: Most unknowns (units × template samples) of one template learning: its
#: normal equations are a dense square of that side (6000: about 290 MB).
MAX_LEARN_UNKNOWNS = 6000


@dataclass(frozen=True)
class PeelParams:
    """Settings of template peeling in dense stretches.

    Parameters
    ----------
    enabled : bool
        Peel dense stretches (needs sorted units).
    min_rate_hz : float
        A stretch is dense where the first pass found at least this many FPs
        per second over ``window_s`` (overlaps are then common).
    window_s : float
        Window over which the first-pass rate is counted.
    pad_s : float
        Margin added on both sides of a dense stretch.
    max_stretch_s : float
        Longer dense stretches are peeled in pieces of at most this length
        (memory stays bounded however long the storm).
    k_fit : float
        A template is subtracted where it lowers the residual energy by at
        least ``k_fit²`` σ² (the drop that noise alone gives where the
        template's normalised correlation reaches ``k_fit`` σ).
    min_scale, max_scale : float
        Bounds of a discharge's amplitude relative to its unit's template.
    max_variability : float
        Only units whose discharges vary little in shape (median normalised
        deviation from their template, the sorting's ``stability``, at most
        this) are peeled: a template averaged over unlike discharges fits
        anything a little, and would invent discharges.
    min_explained : float
        A subtraction must explain at least this share of the residual
        energy on the template's channels and span: a discharge of a unit
        without a template (or a leftover of a larger one) fits any
        template poorly and is left alone.
    channel_k : float
        Template channels whose peak stays below this many σ are left out
        of the fit (they carry noise, not the unit).
    subsample : int
        Fractional alignments per sample of a subtracted template (1: whole
        samples only).
    match_ms : float
        A peeled discharge this close to a first-pass FP is that FP.
    max_rounds : int
        Most rounds of peeling (each subtracts at most one discharge per
        template length).
    min_share : float
        A peeled discharge is reported only where, on the final residual, it
        explains at least this share of the energy on its template's
        channels and span (:func:`prune`): a fit to the leftovers of other
        discharges explains little of what lies there.
    learn_rounds : int
        Rounds of template learning in a dense stretch: each fits every
        template again on the stretch, by least squares over all the
        discharges peeled from it (:func:`learn_templates`), and peels the
        stretch again with them (0: peel the sorting's templates as they are).
    split_rounds : int
        Rounds in which the discharges peeled with each template are sorted
        again, and a template that holds two units is replaced by theirs
        (:func:`fasciq.detect.storm.split_units`).
    template_ms : float
        Length of the learnt templates: a large MUAP lasts longer than the
        snippets it was sorted from, and a tail left in the residual looks
        like a small discharge.
    template_prior : float
        Weight, in discharges, that holds a learnt template near the
        sorting's (a unit with few discharges keeps its shape).
    discover_rounds : int
        Rounds of template discovery in the residual of a dense stretch
        (:mod:`fasciq.detect.storm`; 0 turns it off). New units also fit
        leftovers of others; ``min_share`` drops those fits.
    search_passes : int
        Most passes of local search after the greedy peeling: each
        discharge in turn is added back and replaced by the best fit of any
        unit near it (or by none), then the greedy peeling fills what that
        freed (0: greedy fits only).
    search_reach : float
        How far from a discharge the local search looks, in template lengths.
    min_new_discharges : int
        Fewest discharges of a unit found in the residual.
    max_new_variability : float
        Largest shape variability of such a unit (as ``max_variability``).
    min_new_snr : float
        Smallest peak-to-peak of its template, in noise σ of its channel.
    reference_hz : float
        Corner of the high-pass (first order, zero phase) that removes the
        baseline from the traces on which each unit's reference sample (its
        largest peak, :func:`reference_samples`) is read: the analysis
        band-pass would change which of two near-equal phases is the larger.
    carry_templates : bool
        A dense stretch cut into pieces (``max_stretch_s``) peels each piece
        starting from the templates of the piece before: the sorting's, as
        learnt there, and the units found there that kept at least
        ``min_new_discharges`` discharges (False: each piece starts from the
        sorting's templates).
    follow_ms : float
        Half-width of the lag window within which a template's discharges
        follow a larger template's (:func:`followers`).
    min_follow_share : float
        Where a template's discharges follow at least this share of a larger
        template's discharges at one lag, they are a part of that unit's
        MUAP, not discharges of their own, and are not reported (they stay
        subtracted; 1: only where every one is followed).
    """

    enabled: bool = True
    min_rate_hz: float = 15.0
    window_s: float = 2.0
    pad_s: float = 0.5
    max_stretch_s: float = 30.0
    k_fit: float = 6.0
    min_scale: float = 0.6
    max_scale: float = 1.6
    max_variability: float = 0.5
    min_explained: float = 0.0
    channel_k: float = 1.5
    subsample: int = 4
    match_ms: float = 7.0
    max_rounds: int = 40
    min_share: float = 0.2
    learn_rounds: int = 3
    split_rounds: int = 1
    template_ms: float = 80.0
    template_prior: float = 2.0
    discover_rounds: int = 2
    search_passes: int = 8
    search_reach: float = 0.5
    min_new_discharges: int = 8
    max_new_variability: float = 0.3
    min_new_snr: float = 8.0
    reference_hz: float = 2.0
    carry_templates: bool = True
    follow_ms: float = 1.0
    min_follow_share: float = 0.3

    def __post_init__(self) -> None:
        check_positive(self.min_rate_hz, "min_rate_hz")
        check_positive(self.window_s, "window_s")
        check_positive(self.pad_s, "pad_s", allow_zero=True)
        check_positive(self.max_stretch_s, "max_stretch_s")
        check_positive(self.k_fit, "k_fit")
        check_positive(self.min_scale, "min_scale")
        check_positive(self.channel_k, "channel_k", allow_zero=True)
        check_positive(self.max_variability, "max_variability")
        check_in_range(self.min_explained, "min_explained", 0.0, 1.0)
        check_in_range(self.min_share, "min_share", 0.0, 1.0)
        check_positive(self.match_ms, "match_ms")
        check_positive(self.template_ms, "template_ms")
        check_positive(self.template_prior, "template_prior")
        if self.max_scale < self.min_scale:
            raise ParameterError(
                f"max_scale ({self.max_scale}) must not be below min_scale ({self.min_scale})",
                fix="give e.g. min_scale=0.6, max_scale=1.6",
                source="max_scale",
            )
        check_positive(self.max_new_variability, "max_new_variability")
        check_positive(self.min_new_snr, "min_new_snr")
        check_positive(self.reference_hz, "reference_hz")
        check_positive(self.follow_ms, "follow_ms")
        check_in_range(self.search_reach, "search_reach", 0.0, 1.0)
        check_in_range(self.min_follow_share, "min_follow_share", 0.0, 1.0)
        for name, low in (
            ("subsample", 1),
            ("max_rounds", 1),
            ("learn_rounds", 0),
            ("split_rounds", 0),
            ("discover_rounds", 0),
            ("search_passes", 0),
            ("min_new_discharges", 2),
        ):
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ParameterError(
                    f"{name} must be an integer ≥ {low}, got {value!r}",
                    fix=f"give {name} as a whole number ≥ {low}",
                    source=name,
                )

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


@dataclass
class Peeled:
    """Discharges found by :func:`peel`.

    Parameters
    ----------
    sample : ndarray of int64
        Sample of each discharge's template centre in the traces.
    offset : ndarray of float
        Fraction of a sample (``[0, 1)``) by which the template lies later.
    unit : ndarray of int64
        Row of the template (in the ``templates`` array given to :func:`peel`).
    scale : ndarray of float
        Amplitude relative to the template.
    gain : ndarray of float
        Drop in residual energy (σ²) on the template's channels and span that
        its subtraction gives, the others subtracted.
    explained : ndarray of float
        That drop as a fraction of the energy there with the discharge
        added back to the final residual (1: a perfect fit).
    residual : ndarray, shape (n_samples, n_channels)
        Traces (µV) left once every discharge is subtracted.
    fitted : ndarray, shape (n_templates, subsample, n_window, n_channels)
        The templates as subtracted (µV, masked to their channels, shifted by
        each fraction ``k / subsample``): discharge ``i`` removed
        ``scale[i] * fitted[unit[i], round(offset[i] * subsample)]`` starting
        at ``sample[i] - centre``.
    centre : int
        Index of the discharge time in the template window.
    """

    sample: np.ndarray
    offset: np.ndarray
    unit: np.ndarray
    scale: np.ndarray
    gain: np.ndarray
    explained: np.ndarray
    residual: np.ndarray
    fitted: np.ndarray
    centre: int = 0

    def __len__(self) -> int:
        return len(self.sample)


def dense_stretches(
    times_s: np.ndarray, duration_s: float, params: PeelParams | None = None
) -> np.ndarray:
    """Stretches where the first pass found FPs densely.

    Parameters
    ----------
    times_s : array of float
        First-pass FP times (s).
    duration_s : float
        Length of the recording (s).
    params : PeelParams, optional
        ``min_rate_hz``, ``window_s`` and ``pad_s``.

    Returns
    -------
    ndarray, shape (n_stretches, 2)
        ``[start_s, end_s)`` of each dense stretch (padded, merged, clipped
        to the recording, cut into pieces of at most ``max_stretch_s``).
    """
    params = params or PeelParams()
    times = np.sort(np.asarray(times_s, dtype=np.float64).reshape(-1))
    if times.size == 0 or duration_s <= 0:
        return np.zeros((0, 2))
    need = params.min_rate_hz * params.window_s
    # FPs within window_s from each FP on (a sliding count, anchored on the FPs)
    ends = np.searchsorted(times, times + params.window_s, side="left")
    counts = ends - np.arange(times.size)
    hot = np.flatnonzero(counts >= need)
    if hot.size == 0:
        return np.zeros((0, 2))
    starts = times[hot] - params.pad_s
    stops = times[hot] + params.window_s + params.pad_s
    spans: list[list[float]] = []
    for a, b in zip(starts, stops, strict=True):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    out = np.clip(np.asarray(spans, dtype=np.float64), 0.0, duration_s)
    out = out[out[:, 1] > out[:, 0]]
    pieces = []
    for a, b in out:
        edges = np.linspace(a, b, int(np.ceil((b - a) / params.max_stretch_s)) + 1)
        pieces.append(np.column_stack([edges[:-1], edges[1:]]))
    return np.concatenate(pieces) if pieces else np.zeros((0, 2))


def _shifted(w: np.ndarray, subsample: int) -> np.ndarray:
    """``(n_units, subsample, L, C)`` copies of ``w`` delayed by ``k / subsample`` samples."""
    length = w.shape[1]
    nfft = sfft.next_fast_len(2 * length)
    spec = sfft.rfft(w, nfft, axis=1)
    freq = np.arange(spec.shape[1]) / nfft
    delays = np.arange(subsample) / subsample
    phase = np.exp(-2j * np.pi * delays[:, None] * freq[None, :])  # (S, F)
    out = sfft.irfft(spec[:, None] * phase[None, :, :, None], nfft, axis=2)[:, :, :length]
    return out.astype(np.float32)


def _correlate(x: np.ndarray, w: np.ndarray, block: int = 4096) -> np.ndarray:
    """``c[u, t] = Σ_k Σ_ch x[t + k, ch] · w[u, k, ch]`` for every valid ``t``.

    Overlap-save FFT blocks; the sum over channels is one batched matrix
    product per frequency, so the cost grows with units × channels ×
    samples × log(block), without any loop over samples.
    """
    n, n_ch = x.shape
    n_units, length, _ = w.shape
    n_out = n - length + 1
    if n_out <= 0:
        return np.zeros((n_units, 0), dtype=np.float32)
    nfft = sfft.next_fast_len(max(block, 2 * length))
    step = nfft - length + 1
    n_blocks = -(-n_out // step)
    # template spectra, conjugated for a correlation: (F, n_units, n_ch)
    w_spec = np.conj(sfft.rfft(w.astype(np.float32), nfft, axis=1)).transpose(1, 0, 2)
    padded = np.zeros((n_blocks * step + length - 1, n_ch), dtype=np.float32)
    padded[:n] = x
    idx = np.arange(n_blocks)[:, None] * step + np.arange(nfft)[None, :]
    idx = np.minimum(idx, padded.shape[0] - 1)
    segs = padded[idx]  # (n_blocks, nfft, n_ch)
    x_spec = sfft.rfft(segs, nfft, axis=1).transpose(1, 2, 0)  # (F, n_ch, n_blocks)
    prod = np.matmul(w_spec, x_spec)  # (F, n_units, n_blocks)
    corr = sfft.irfft(prod, nfft, axis=0)[:step]  # (step, n_units, n_blocks)
    out = corr.transpose(1, 2, 0).reshape(n_units, n_blocks * step)[:, :n_out]
    return np.ascontiguousarray(out, dtype=np.float32)


def _cross(w: np.ndarray, w_shift: np.ndarray) -> np.ndarray:
    """``X[v, u, s, d + L - 1] = Σ_k Σ_ch w[v, k] · w_shift[u, s, k + d]``, ``|d| < L``."""
    length = w_shift.shape[2]
    nfft = sfft.next_fast_len(2 * length)
    a = np.conj(sfft.rfft(w, nfft, axis=1))  # (V, F, C)
    b = sfft.rfft(w_shift, nfft, axis=2)  # (U, S, F, C)
    prod = np.einsum("vfc,usfc->vusf", a, b)
    full = sfft.irfft(prod, nfft, axis=3)  # lag d at index d mod nfft
    lags = np.arange(-(length - 1), length) % nfft
    return full[..., lags].astype(np.float32)


def _realign(
    residual: np.ndarray,
    w_shift: np.ndarray,
    energy: np.ndarray,
    starts: np.ndarray,
    subs: np.ndarray,
    units: np.ndarray,
    scales: np.ndarray,
    lo: float,
    hi: float,
    reach: int = 3,
) -> None:
    """Move each discharge (in place) to its best fit with the others subtracted.

    One pass over the discharges: each is added back to the residual, its
    template is fitted again within ``±reach`` samples (whole and
    fractional), and subtracted there.
    """
    length = w_shift.shape[2]
    n = residual.shape[0]
    for k in range(len(starts)):
        u, s0, t0 = int(units[k]), int(subs[k]), int(starts[k])
        residual[t0 : t0 + length] += scales[k] * w_shift[u, s0]
        a0, a1 = max(0, t0 - reach), min(n - length, t0 + reach)
        seg = np.lib.stride_tricks.sliding_window_view(residual[a0 : a1 + length], length, axis=0)
        # (lags, n_ch, length) · (n_sub, length, n_ch) -> (lags, n_sub)
        corr = np.einsum("lct,stc->ls", seg, w_shift[u])
        fit = np.clip(corr / energy[u][None, :], lo, hi)
        gain = 2 * fit * corr - fit**2 * energy[u][None, :]
        lag, s = np.unravel_index(np.argmax(gain), gain.shape)
        starts[k], subs[k], scales[k] = a0 + lag, s, fit[lag, s]
        residual[starts[k] : starts[k] + length] -= scales[k] * w_shift[u, s]


def _close_pairs(
    starts: np.ndarray, length: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pairs ``i < j`` of sorted ``starts`` less than ``length`` apart: ``(i, j, d)``, lag by lag.

    Lag ``k`` pairs each discharge with the ``k``-th after it; once no pair
    at a lag is close, none further apart can be.
    """
    n = len(starts)
    for lag in range(1, n):
        i = np.arange(n - lag)
        d = starts[i + lag] - starts[i]
        close = d < length
        if not close.any():
            return
        yield i[close], i[close] + lag, d[close]


def _refit(
    x: np.ndarray,
    w_shift: np.ndarray,
    starts: np.ndarray,
    subs: np.ndarray,
    units: np.ndarray,
    lo: float,
    hi: float,
) -> np.ndarray:
    """Least-squares scales of discharges, jointly where they overlap.

    The normal equations couple only discharges whose templates overlap in
    time, so the Gram matrix is sparse (a band in time order) and is solved
    at once however long a chain of overlaps runs; the scales are then
    bounded to ``[lo, hi]``.
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    length = w_shift.shape[2]
    n = len(starts)
    if n == 0:
        return np.zeros(0)
    order = np.argsort(starts, kind="stable")
    st = starts[order].astype(np.int64)
    tpl = w_shift[units[order], subs[order]].astype(np.float64)  # (n, L, C)
    rhs = np.einsum("nlc,nlc->n", tpl, x[st[:, None] + np.arange(length)[None, :]])
    diag = np.einsum("nlc,nlc->n", tpl, tpl)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [diag]
    for i, j, d in _close_pairs(st, length):
        v = np.array(
            [
                np.sum(tpl[a, dd:] * tpl[b, : length - dd])
                for a, b, dd in zip(i.tolist(), j.tolist(), d.tolist(), strict=True)
            ]
        )
        rows += [i, j]
        cols += [j, i]
        vals += [v, v]
    gram = csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    gram = gram + csc_matrix(
        (np.full(n, 1e-9 * max(float(diag.max()), 1e-12)), (range(n), range(n))), shape=(n, n)
    )
    scale = np.asarray(spsolve(gram, rhs)).reshape(-1)
    if not np.all(np.isfinite(scale)):
        scale = rhs / np.maximum(diag, 1e-12)
    out = np.zeros(n)
    out[order] = np.clip(scale, lo, hi)
    return out


def _local_fit(
    residual: np.ndarray,
    w_shift: np.ndarray,
    mask: np.ndarray,
    starts: np.ndarray,
    subs: np.ndarray,
    units: np.ndarray,
    scales: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop in energy each discharge gives on its own channels and span, and its share.

    Measured on the final residual with the discharge added back: a true
    discharge explains most of what is there; a fit to the leftovers of
    other discharges (or to a unit without a template) explains little.
    """
    length = w_shift.shape[2]
    gain = np.zeros(len(starts))
    share = np.zeros(len(starts))
    for k in range(len(starts)):
        m = mask[units[k]]
        r = residual[starts[k] : starts[k] + length][:, m].astype(np.float64)
        own = scales[k] * w_shift[units[k], subs[k]][:, m]
        before = float(np.square(r + own).sum())
        gain[k] = before - float(np.square(r).sum())
        share[k] = gain[k] / max(before, 1e-12)
    return gain, share


class _Fitter:
    """State of a peeling: the residual, every unit's correlation with it, and the fits.

    Each subtraction or restoration of a discharge updates the correlations
    exactly from the template cross-correlations, with no new FFT.
    """

    def __init__(
        self,
        residual: np.ndarray,
        corr: np.ndarray,
        cross: np.ndarray,
        w_shift: np.ndarray,
        energy: np.ndarray,
        mask: np.ndarray,
        usable: np.ndarray,
        params: PeelParams,
    ) -> None:
        self.residual, self.corr, self.cross, self.w_shift = residual, corr, cross, w_shift
        self.energy, self.mask, self.usable, self.params = energy, mask, usable, params
        self.e0 = energy[:, 0].astype(np.float32)
        self.length = w_shift.shape[2]
        self.n_pos = corr.shape[1]
        self.thresh = params.k_fit**2
        # start, fraction index, unit and scale of each fit, by an id
        self.fits: dict[int, tuple[int, int, int, float]] = {}
        self._next = 0

    def _apply(self, start: int, s: int, u: int, scale: float) -> None:
        """Subtract ``scale`` × the template (add it back for a negative scale)."""
        length = self.length
        self.residual[start : start + length] -= scale * self.w_shift[u, s]
        d0 = start - (length - 1)
        a0, a1 = max(d0, 0), min(start + length, self.n_pos)
        self.corr[:, a0:a1] -= scale * self.cross[:, u, s, a0 - d0 : a1 - d0]

    def _gains(self, a0: int, a1: int, blocked: np.ndarray | None = None) -> np.ndarray:
        """Drop in energy of every unit at lags ``[a0, a1)`` at its bounded best scale."""
        corr = self.corr[:, a0:a1]
        a = corr / self.e0[:, None]
        a_fit = np.minimum(a, self.params.max_scale)
        ok = (a >= self.params.min_scale) & self.usable[:, None]
        if blocked is not None:
            ok &= ~blocked
        return np.where(ok, 2 * a_fit * corr - a_fit**2 * self.e0[:, None], 0)

    def _candidate(self, u: int, t: int) -> tuple[int, int, float] | None:
        """Unit ``u`` near lag ``t``, to a fraction of a sample: start, fraction, scale.

        The vertex of a parabola through the correlation peak; None where the
        fit falls below the threshold (or explains too little of what lies
        there, ``min_explained``).
        """
        corr, sub, n_pos = self.corr, int(self.params.subsample), self.n_pos
        c0 = float(corr[u, t])
        cm = float(corr[u, t - 1]) if t > 0 else c0
        cp = float(corr[u, t + 1]) if t < n_pos - 1 else c0
        denom = cm - 2 * c0 + cp
        frac = 0.5 * (cm - cp) / denom if denom < 0 else 0.0
        frac = float(np.clip(frac, -0.5, 0.5))
        start = t + int(np.floor(frac))
        s = round((frac - np.floor(frac)) * sub)
        if s == sub:
            start, s = start + 1, 0
        if start < 0 or start > n_pos - 1:
            start, s = t, 0
        c_at = c0 if denom >= 0 else c0 - 0.25 * (cm - cp) * (0.5 * (cm - cp) / denom)
        e = float(self.energy[u, s])
        scale = float(np.clip(c_at / e, self.params.min_scale, self.params.max_scale))
        g = 2 * scale * c_at - scale**2 * e
        if g < self.thresh:
            return None
        if self.params.min_explained > 0:
            # a discharge of another, untemplated unit is fitted poorly
            seg = self.residual[start : start + self.length][:, self.mask[u]]
            explained = g / max(float((seg.astype(np.float64) ** 2).sum()), 1e-12)
            if explained < self.params.min_explained:
                return None
        return start, s, scale

    def _add(self, u: int, start: int, s: int, scale: float) -> None:
        """Subtract a fit and keep it."""
        self._apply(start, s, u, scale)
        self.fits[self._next] = (start, s, u, scale)
        self._next += 1

    def greedy(self) -> int:
        """Subtract the best fits, a template length apart, round by round; how many."""
        length, n_added = self.length, 0
        blocked = ~np.broadcast_to(self.usable[:, None], self.corr.shape).copy()
        for _ in range(int(self.params.max_rounds)):
            gain = self._gains(0, self.n_pos, blocked)
            best = gain.max(axis=0)
            peaks, _ = sps.find_peaks(
                np.concatenate([[0], best, [0]]), height=self.thresh, distance=length
            )
            peaks -= 1
            if peaks.size == 0:
                break
            for t, u in zip(peaks.tolist(), gain[:, peaks].argmax(axis=0).tolist(), strict=True):
                fit = self._candidate(u, t)
                if fit is None:
                    blocked[u, max(t - 1, 0) : t + 2] = True
                    continue
                self._add(u, *fit)
                n_added += 1
                # candidates turned down here meet a changed residual: look again
                a0, a1 = max(fit[0] - length + 1, 0), min(fit[0] + length, self.n_pos)
                blocked[:, a0:a1] = ~self.usable[:, None]
        return n_added

    def search(self, reach: int) -> int:
        """One pass of local search over the fits, in time order; how many changed.

        Each discharge is added back and the best fit of any unit within
        ``±reach`` samples of it is subtracted in its place, or none where
        none reaches the threshold. Greedy fits are made one at a time: a
        large discharge can be taken by another unit's template at a lag
        where their shapes are alike, and the gap it leaves is filled by
        small fits; with the others in place, the right unit fits best, and
        the small fits then explain nothing and go.
        """
        changed = 0
        for key in sorted(self.fits, key=lambda k: self.fits[k][0]):
            start, s, u, scale = self.fits.pop(key)
            self._apply(start, s, u, -scale)
            a0, a1 = max(start - reach, 0), min(start + reach + 1, self.n_pos)
            gain = self._gains(a0, a1)
            best_u, best_t = np.unravel_index(int(np.argmax(gain)), gain.shape)
            fit = self._candidate(int(best_u), a0 + int(best_t))
            if fit is None:
                changed += 1
                continue
            self._add(int(best_u), *fit)
            if best_u != u or abs(fit[0] - start) > 1:
                changed += 1
        return changed

    def found(self) -> list[tuple[int, int, int, float]]:
        """The fits: start, fraction index, unit, scale."""
        return list(self.fits.values())


def template_channels(templates: np.ndarray, noise: np.ndarray, channel_k: float) -> np.ndarray:
    """``(n_units, n_channels)`` mask of the channels where each template exceeds ``channel_k`` σ.

    Parameters
    ----------
    templates : ndarray, shape (n_units, n_window, n_channels)
        Templates in µV.
    noise : ndarray, shape (n_channels,)
        Noise σ (µV).
    channel_k : float
        Threshold in σ on the template's largest absolute value.
    """
    peak = np.abs(templates).max(axis=1) / np.maximum(noise, 1e-12)[None, :]
    mask = peak >= channel_k
    if templates.shape[0]:
        # a template keeps at least its largest channel
        mask[np.arange(templates.shape[0]), peak.argmax(axis=1)] = True
    return mask


def peel(
    x: np.ndarray,
    noise: np.ndarray,
    templates: np.ndarray,
    params: PeelParams | None = None,
    centre: int | None = None,
    initial: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Peeled:
    """Explain band-passed traces as a sum of scaled unit templates (greedy).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces (µV).
    noise : ndarray, shape (n_channels,)
        Noise σ of each channel (µV); the fit is made on traces divided by it.
    templates : ndarray, shape (n_units, n_window, n_channels)
        Unit templates (µV), each with its discharge time at ``centre``.
    params : PeelParams, optional
        Threshold, scale bounds, alignment resolution and rounds.
    centre : int, optional
        Index of the discharge time in the template window (the middle by
        default).
    initial : tuple of ndarray, optional
        Discharges to start from, ``(sample, offset, unit)`` as in
        :class:`Peeled` (sample of the discharge time, fraction of a sample,
        template row), each subtracted at its template's own size; the
        greedy fits and the local search then go on from them (by default
        they start from nothing). Discharges whose window does not lie
        within ``x`` are left out.

    Returns
    -------
    Peeled
        One entry per subtracted discharge, in time order, and the residual.
    """
    params = params or PeelParams()
    x = np.asarray(x, dtype=np.float32)
    templates = np.asarray(templates, dtype=np.float32)
    n = x.shape[0]
    n_units, length, _ = templates.shape
    centre = length // 2 if centre is None else int(centre)
    sub = int(params.subsample)
    scale_ch = np.maximum(np.asarray(noise, dtype=np.float32).reshape(-1), 1e-6)
    mask = template_channels(templates, scale_ch, params.channel_k)
    w = templates / scale_ch * mask[:, None, :]
    # a short taper, so a template cut at the window's ends leaves no step
    taper = np.ones(length, dtype=np.float32)
    m = min(3, length // 4)
    if m:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 1) / (m + 1))
        taper[:m], taper[length - m :] = ramp, ramp[::-1]
    w = (w * taper[None, :, None]).astype(np.float32)
    w_shift = _shifted(w, sub)  # (U, S, L, C)
    energy = (w_shift.astype(np.float64) ** 2).sum(axis=(2, 3))  # (U, S)
    # a template that cannot reach k_fit even at max_scale is below the noise
    usable = params.max_scale**2 * energy[:, 0] >= params.k_fit**2
    residual = x / scale_ch
    empty = Peeled(
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0),
        np.zeros(0),
        residual * scale_ch,
        w_shift * scale_ch,
        centre,
    )
    if n_units == 0 or not usable.any() or n < length + 2:
        return empty
    corr = _correlate(residual, w)  # (U, n - L + 1), lag t = template start
    cross = _cross(w, w_shift)  # (U, U, S, 2L - 1)
    lo, hi = params.min_scale, params.max_scale
    reach = max(1, round(params.search_reach * length))
    fit = _Fitter(residual, corr, cross, w_shift, energy, mask, usable, params)
    if initial is not None:
        sample, offset, unit = (np.asarray(v).reshape(-1) for v in initial)
        frac = np.rint(np.asarray(offset, dtype=np.float64) * sub).astype(np.int64)
        starts = sample.astype(np.int64) - centre + frac // sub
        inside = (starts >= 0) & (starts < fit.n_pos) & (unit >= 0) & (unit < n_units)
        for st, sb, u in zip(starts[inside], frac[inside] % sub, unit[inside], strict=True):
            fit._add(int(u), int(st), int(sb), 1.0)
    fit.greedy()
    for _ in range(int(params.search_passes)):
        if fit.search(reach) == 0 and fit.greedy() == 0:
            break
    found = fit.found()
    if not found:
        return empty
    # gains and shares are measured once every fit is final (_local_fit)
    arr = np.array([(st + centre, sb / sub, u, a, 0.0, 0.0) for st, sb, u, a in found])
    order = np.argsort(arr[:, 0] + arr[:, 1], kind="stable")
    arr = arr[order]
    # greedy fits share the energy of a close overlap unevenly: each discharge
    # is realigned on the residual with itself added back, then the scales of
    # each group of overlapping discharges are fitted together
    starts = arr[:, 0].astype(np.int64) - centre
    subs = np.rint(arr[:, 1] * sub).astype(np.int64)
    unit_k = arr[:, 2].astype(np.int64)
    for _ in range(REALIGN_PASSES):
        _realign(residual, w_shift, energy, starts, subs, unit_k, arr[:, 3], lo, hi)
    arr[:, 3] = _refit(x / scale_ch, w_shift, starts, subs, unit_k, lo, hi)
    residual = x / scale_ch
    for k in range(len(arr)):
        residual[starts[k] : starts[k] + length] -= arr[k, 3] * w_shift[unit_k[k], subs[k]]
    arr[:, 4], arr[:, 5] = _local_fit(residual, w_shift, mask, starts, subs, unit_k, arr[:, 3])
    arr[:, 0], arr[:, 1] = starts + centre, subs / sub
    order = np.argsort(arr[:, 0] + arr[:, 1], kind="stable")
    arr = arr[order]
    return Peeled(
        arr[:, 0].astype(np.int64),
        arr[:, 1],
        arr[:, 2].astype(np.int64),
        arr[:, 3],
        arr[:, 4],
        arr[:, 5],
        residual * scale_ch,
        w_shift * scale_ch,
        centre,
    )


def learn_templates(
    x: np.ndarray,
    peeled: Peeled,
    templates: np.ndarray,
    centre: int,
    extend: int,
    prior: float = 2.0,
) -> np.ndarray:
    """Longer, cleaner templates fitted to a stretch, given the discharges peeled from it.

    Each unit's template is re-estimated by least squares on the stretch as
    a whole: the traces are the sum, over every peeled discharge, of its
    unit's template delayed to its fitted time and scaled, so the overlaps
    that contaminate templates averaged over snippets are solved out, and
    the templates can be longer than the snippets they were first cut from
    (a large MUAP's tail, left behind by a short template, looks like a
    small discharge). The normal equations are the same for every channel
    (they depend on the discharges' times and scales only): one symmetric
    system of ``n_units × n_window`` unknowns, solved for all channels at
    once. A ridge of weight ``prior`` (in discharges) pulls each template
    towards the given one (zero beyond its ends), so a unit with few
    discharges keeps its shape.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces (µV) that were peeled.
    peeled : Peeled
        Discharges found in ``x`` with ``templates``.
    templates : ndarray, shape (n_units, n_window, n_channels)
        The templates peeled (µV), discharge time at ``centre``.
    centre : int
        Index of the discharge time in ``templates``' window.
    extend : int
        Samples added on each side of the window.
    prior : float
        Weight of the given templates, in discharges.

    Returns
    -------
    ndarray, shape (n_units, n_window + 2 * extend, n_channels)
        Templates (µV), discharge time at ``centre + extend``.
    """
    n_units, short, n_ch = templates.shape
    length = short + 2 * extend
    n = x.shape[0]
    init = np.zeros((n_units, length, n_ch), dtype=np.float64)
    init[:, extend : extend + short] = templates
    start = peeled.sample - centre - extend
    ok = (start >= 0) & (start + length <= n)
    start, unit = start[ok], peeled.unit[ok]
    frac, scale = peeled.offset[ok], peeled.scale[ok]
    if start.size == 0 or n_units * length > MAX_LEARN_UNKNOWNS:
        if start.size:
            logger.debug("peeling: %d templates too many to learn together", n_units)
        return init.astype(np.float32)
    # right-hand side: each discharge's stretch of traces, advanced by its
    # fraction of a sample so that it lines up with the template's grid
    seg = x[start[:, None] + np.arange(length)[None, :]].astype(np.float64)  # (m, L, C)
    nfft = sfft.next_fast_len(length + 16)
    freq = np.arange(nfft // 2 + 1) / nfft
    spec = (
        sfft.rfft(seg, nfft, axis=1)
        * np.exp(2j * np.pi * frac[:, None] * freq[None, :])[:, :, None]
    )
    seg = sfft.irfft(spec, nfft, axis=1)[:, :length]
    rhs = np.zeros((n_units, length, n_ch))
    np.add.at(rhs, unit, scale[:, None, None] * seg)
    # normal equations: a pair of discharges d samples apart couples their
    # units' templates along the diagonal at offset d
    order = np.argsort(start, kind="stable")
    st, un, sc = start[order], unit[order], scale[order]
    hist = np.zeros((n_units, n_units, 2 * length - 1))
    np.add.at(hist, (un, un, length - 1), sc * sc)
    for i, j, d in _close_pairs(st, length):
        w = sc[i] * sc[j]
        # x[s_i + k] meets template j at k - d: row (u_i, k), column (u_j, k - d)
        np.add.at(hist, (un[i], un[j], length - 1 - d), w)
        np.add.at(hist, (un[j], un[i], length - 1 + d), w)
    k = np.arange(length)
    lag_idx = (k[None, :] - k[:, None]) + length - 1  # column k2 - row k1
    gram = hist[:, :, lag_idx]  # (U, U, L, L): [u, v, k1, k2]
    gram = gram.transpose(0, 2, 1, 3).reshape(n_units * length, n_units * length)
    ridge = prior * np.ones(n_units * length)
    gram[np.diag_indices_from(gram)] += ridge
    rhs = rhs.reshape(n_units * length, n_ch) + ridge[:, None] * init.reshape(-1, n_ch)
    try:
        sol = np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        return init.astype(np.float32)
    return sol.reshape(n_units, length, n_ch).astype(np.float32)


def prune(peeled: Peeled, min_share: float) -> Peeled:
    """The peeled discharges that explain enough of what lies where they were fitted.

    A discharge is dropped when, on the final residual with it added back,
    it explains less than ``min_share`` of the energy on its template's
    channels and span (:attr:`Peeled.explained`): such a fit takes up the
    leftovers of other discharges, or a discharge of a unit without a
    template, rather than a discharge of its own unit. What a dropped
    discharge had subtracted is added back to the residual.

    Parameters
    ----------
    peeled : Peeled
        Output of :func:`peel`.
    min_share : float
        Smallest share of the local energy a kept discharge explains.

    Returns
    -------
    Peeled
        The kept discharges, with their residual.
    """
    drop = np.flatnonzero(peeled.explained < min_share)
    if drop.size == 0:
        return peeled
    residual = peeled.residual.copy()
    _, n_sub, length, _ = peeled.fitted.shape
    centre_of = peeled.sample[drop]
    sub = np.rint(peeled.offset[drop] * n_sub).astype(np.int64) % n_sub
    for k, i in enumerate(drop.tolist()):
        start = int(centre_of[k]) - peeled.centre
        residual[start : start + length] += peeled.scale[i] * peeled.fitted[peeled.unit[i], sub[k]]
    keep = np.ones(len(peeled), dtype=bool)
    keep[drop] = False
    return Peeled(
        peeled.sample[keep],
        peeled.offset[keep],
        peeled.unit[keep],
        peeled.scale[keep],
        peeled.gain[keep],
        peeled.explained[keep],
        residual,
        peeled.fitted,
        peeled.centre,
    )


def followers(peeled: Peeled, tolerance: float, min_share: float, min_count: int) -> np.ndarray:
    """The discharges that follow a larger template's discharges at a fixed lag.

    Motor units fire independently, so a discharge of one unit lies at a
    given lag (within ``±tolerance`` samples) from a discharge of another
    only by chance, and rarely. Where a template's discharges accompany
    most of a larger template's discharges at one lag, they are a part of
    that unit's MUAP that its template does not hold (a component that
    varies from discharge to discharge and is averaged away), not another
    unit: fitting them keeps the residual clean, but they are not
    discharges of their own. For each pair of templates (the smaller one
    following the larger, by peak-to-peak), the lag at which most pairs of
    their discharges fall (within ``±tolerance``, and closer than a
    template length) is found; where that many pairs reach ``min_count``
    and ``min_share`` of the larger template's discharges, the smaller
    template's discharges at that lag are followers.

    Parameters
    ----------
    peeled : Peeled
        Output of :func:`peel` (or :func:`prune`).
    tolerance : float
        Half-width, in samples, of the lag window.
    min_share : float
        Smallest share of the larger template's discharges that are followed.
    min_count : int
        Fewest followed discharges.

    Returns
    -------
    ndarray of bool, shape (len(peeled),)
        True for a follower.
    """
    out = np.zeros(len(peeled), dtype=bool)
    n_templates, _, length, _ = peeled.fitted.shape
    if len(peeled) < 2 * min_count or n_templates < 2:
        return out
    size = np.ptp(peeled.fitted[:, 0], axis=1).max(axis=1)
    pos = peeled.sample + peeled.offset
    members = [np.flatnonzero(peeled.unit == u) for u in range(n_templates)]
    for v in np.argsort(-size, kind="stable").tolist():
        lead = pos[members[v]]
        if lead.size < min_count:
            continue
        for u in range(n_templates):
            if size[u] >= size[v] or members[u].size < min_count:
                continue
            lag = pos[members[u]][:, None] - lead[None, :]
            i, j = np.nonzero(np.abs(lag) < length)
            if i.size < min_count:
                continue
            dl = lag[i, j]
            order = np.argsort(dl, kind="stable")
            dl, i = dl[order], i[order]
            # pairs within ±tolerance of each lag, counted on the sorted lags
            hi = np.searchsorted(dl, dl + 2 * tolerance, side="right")
            count = hi - np.arange(dl.size)
            k = int(count.argmax())
            if count[k] < max(min_count, min_share * lead.size):
                continue
            out[members[u][np.unique(i[k : hi[k]])]] = True
    return out


def peak_left(
    residual: np.ndarray, samples: np.ndarray, channels: np.ndarray, half: int
) -> np.ndarray:
    """Largest ``|residual|`` within ``±half`` samples of each sample, on its channel.

    Parameters
    ----------
    residual : ndarray, shape (n_samples, n_channels)
        Residual traces (e.g. in σ units).
    samples : array of int
        Samples (clipped to the traces).
    channels : array of int
        Channel of each sample.
    half : int
        Half-width of the window.

    Returns
    -------
    ndarray of float
        One value per sample.
    """
    samples = np.asarray(samples, dtype=np.int64).reshape(-1)
    if samples.size == 0:
        return np.zeros(0)
    idx = np.clip(samples[:, None] + np.arange(-half, half + 1)[None, :], 0, residual.shape[0] - 1)
    return np.abs(residual[idx, np.asarray(channels, dtype=np.int64)[:, None]]).max(axis=1)


def match_times(a: np.ndarray, b: np.ndarray, tol: float) -> np.ndarray:
    """One-to-one matching of two sets of times, closest pairs first.

    Parameters
    ----------
    a, b : array of float
        Times (any unit).
    tol : float
        Largest distance of a matched pair.

    Returns
    -------
    ndarray of int64, shape (len(a),)
        Index into ``b`` of each element of ``a``'s partner, -1 if none.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    out = np.full(a.size, -1, dtype=np.int64)
    if a.size == 0 or b.size == 0:
        return out
    order_b = np.argsort(b, kind="stable")
    bs = b[order_b]
    lo = np.searchsorted(bs, a - tol, side="left")
    hi = np.searchsorted(bs, a + tol, side="right")
    counts = hi - lo
    if counts.sum() == 0:
        return out
    ia = np.repeat(np.arange(a.size), counts)
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    jb = starts + np.arange(ia.size)
    dist = np.abs(a[ia] - bs[jb])
    taken_b = np.zeros(b.size, dtype=bool)
    for k in np.argsort(dist, kind="stable").tolist():
        i, j = int(ia[k]), int(jb[k])
        if out[i] < 0 and not taken_b[j]:
            out[i] = order_b[j]
            taken_b[j] = True
    return out


def reference_samples(templates: np.ndarray, subsample: int | None = None) -> np.ndarray:
    """Index of each template's largest peak, at every fraction of a sample.

    The reference sample of a discharge is the largest absolute sample on
    the channel with the largest peak-to-peak, the rule by which an FP's
    time is defined. A MUAP whose two largest phases are near-equal has its
    reference on one or the other depending on where the samples fall, so
    the rule is applied to the template delayed by each fraction ``k /
    subsample`` of a sample.

    Parameters
    ----------
    templates : ndarray
        Templates (µV), shape ``(n_units, n_window, n_channels)``, or copies
        already delayed by ``k / n_sub`` samples, shape ``(n_units, n_sub,
        n_window, n_channels)`` (:attr:`Peeled.fitted`).
    subsample : int, optional
        Fractions per sample for undelayed templates (1 by default; ignored
        for delayed copies).

    Returns
    -------
    ndarray of int64, shape (n_units, n_fractions)
        Index in the template window of the reference sample.
    """
    tpl = np.asarray(templates, dtype=np.float32)
    if tpl.ndim == 3:
        sub = max(1, int(subsample or 1))
        if tpl.shape[0] == 0:
            return np.zeros((0, sub), dtype=np.int64)
        tpl = _shifted(tpl, sub) if sub > 1 else tpl[:, None]
    n_units, n_sub, length, n_ch = tpl.shape
    if n_units == 0:
        return np.zeros((0, n_sub), dtype=np.int64)
    flat = tpl.reshape(n_units * n_sub, length, n_ch)
    big = np.ptp(flat, axis=1).argmax(axis=1)
    at = np.abs(flat[np.arange(flat.shape[0]), :, big]).argmax(axis=1)
    return at.reshape(n_units, n_sub).astype(np.int64)


def peeled_features(
    peeled: Peeled,
    noise: np.ndarray,
    fs: float,
    centre: int,
    positions_mm: np.ndarray | None = None,
    params: FeatureParams | None = None,
    search_ms: float = 20.0,
    channel_k: float = 1.5,
    reference: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Features of each peeled discharge, measured on it alone.

    Each discharge is measured on the residual with its own fitted template
    added back, so the discharges it overlapped do not distort it; the
    features are those of :func:`~fasciq.detect.features.event_features`
    (same channel choice, peak time and waveform measures as the first
    pass).

    Parameters
    ----------
    peeled : Peeled
        Output of :func:`peel`.
    noise : ndarray, shape (n_channels,)
        Noise σ (µV).
    fs : float
        Sampling rate in Hz.
    centre : int
        Index of the discharge time in the template window.
    positions_mm : ndarray, optional
        Electrode positions (centroids).
    params : FeatureParams, optional
        Feature windows.
    search_ms : float
        Half-width of the peak search (as in the first pass).
    channel_k : float
        The discharge's footprint: channels of its template above this many σ.
    reference : ndarray of int, shape (n_templates, n_fractions), optional
        Index in the template window of each unit's reference sample (its
        largest peak) when its template lies ``k / n_fractions`` of a sample
        later (:func:`reference_samples`); by default that of the fitted
        templates.

    Returns
    -------
    dict of ndarray
        As :func:`~fasciq.detect.features.event_features`, one entry per
        peeled discharge, with ``peak_sample`` relative to the traces, and
        ``fit_sample``: the discharge's fitted start plus its unit's
        reference sample.
    """
    params = params or FeatureParams()
    n_ev = len(peeled)
    n, n_ch = peeled.residual.shape
    _, n_sub, length, _ = peeled.fitted.shape
    half = max(1, round(params.window_ms * fs / 1000))
    search = max(1, round(min(search_ms, params.search_ms) * fs / 1000))
    h = search + half + 2
    seg = 2 * h + 1
    # one segment per discharge, side by side: residual + its own template
    pad = np.zeros((n + 2 * h + 2 * length, n_ch), dtype=np.float32)
    pad[h + length : h + length + n] = peeled.residual
    rows = peeled.sample[:, None] - h + np.arange(seg)[None, :]
    stack = pad[rows + h + length]  # (n_ev, seg, n_ch)
    sub_idx = np.rint(peeled.offset * n_sub).astype(np.int64) % n_sub
    own = peeled.scale[:, None, None] * peeled.fitted[peeled.unit, sub_idx]  # (n_ev, L, C)
    at = h - centre + np.arange(length)  # template rows inside its segment
    ok = (at >= 0) & (at < seg)
    stack[:, at[ok]] += own[:, ok]
    x = stack.reshape(n_ev * seg, n_ch)
    sigma = np.broadcast_to(np.maximum(noise, 1e-6).astype(np.float32), x.shape)
    foot = template_channels(peeled.fitted[:, 0], noise, channel_k)[peeled.unit]
    channel = np.abs(peeled.fitted[:, 0]).max(axis=1).argmax(axis=1)[peeled.unit]
    events = Events(np.arange(n_ev, dtype=np.int64) * seg + h, channel.astype(np.int64), foot)
    feats = event_features(x, sigma, events, fs, positions_mm, params, search_ms)
    # segments lie further apart than two searches: one row per discharge
    seg_of = feats["peak_sample"] // seg
    feats["peak_sample"] = peeled.sample[seg_of] - h + feats["peak_sample"] % seg
    feats["index"] = seg_of.astype(np.int64)
    # the fitted time of the largest peak: the reference sample of the
    # discharge's unit at its fitted fraction of a sample
    if reference is None:
        reference = reference_samples(peeled.fitted)
    reference = np.asarray(reference, dtype=np.int64).reshape(len(peeled.fitted), -1)
    frac = np.rint(peeled.offset[seg_of] * reference.shape[1]).astype(np.int64)
    at_peak = reference[peeled.unit[seg_of], frac % reference.shape[1]]
    feats["fit_sample"] = peeled.sample[seg_of] - centre + at_peak
    return feats


__all__ = [
    "PeelParams",
    "Peeled",
    "dense_stretches",
    "followers",
    "learn_templates",
    "match_times",
    "peak_left",
    "peel",
    "peeled_features",
    "prune",
    "reference_samples",
    "template_channels",
]
