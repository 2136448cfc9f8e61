"""Unit templates and template matching (with a two-unit fit for overlapping discharges).

A template is the median multichannel waveform of a unit's aligned
discharges, shape ``(n_window, n_channels)`` in µV. Matching places each
template at every shift within a small range and keeps the least-squares
fit; a template's *channels* are those carrying at least a fifth of its
largest peak-to-peak (the residual is judged there, so far, silent channels
do not dilute it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fasciq.signal.robust import median as fast_median
from fasciq.units.features import peak_to_peak, take_windows

#: A template's channels carry at least this fraction of its largest peak-to-peak.
CHANNEL_FRACTION = 0.2

#: A two-unit fit is tried on FPs whose residual exceeds this fraction of the threshold.
OVERLAP_CHECK = 0.4

#: ... or whose residual on all channels exceeds this many times the noise energy
#: while being at least this share of the snippet's energy.
OVERLAP_NOISE = 3.0
OVERLAP_MIN_SHARE = 0.1

#: Members used for a median template (spread evenly over the unit's FPs).
MAX_TEMPLATE_MEMBERS = 400


def unit_templates(windows: np.ndarray, labels: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Median template of each unit.

    Parameters
    ----------
    windows : ndarray, shape (n_fp, n_window, n_channels)
        Aligned windows.
    labels : array of int, shape (n_fp,)
        Unit of each FP (-1: none).
    units : array of int
        Units to build, in order.

    Returns
    -------
    ndarray of float32, shape (n_units, n_window, n_channels)
    """
    out = np.zeros((len(units), *windows.shape[1:]), dtype=np.float32)
    for i, u in enumerate(units):
        members = template_members(labels, u)
        if members.size:
            out[i] = fast_median(windows[members], axis=0)
    return out


def template_members(labels: np.ndarray, unit: int) -> np.ndarray:
    """FPs a unit's median template is built from (at most ``MAX_TEMPLATE_MEMBERS``, spread)."""
    members = np.flatnonzero(labels == unit)
    if members.size > MAX_TEMPLATE_MEMBERS:
        members = members[np.linspace(0, members.size - 1, MAX_TEMPLATE_MEMBERS).astype(int)]
    return members


def template_channels(templates: np.ndarray, noise_uv: np.ndarray | None = None) -> np.ndarray:
    """``(n_units, n_channels)`` mask of the channels each template lives on.

    Parameters
    ----------
    templates : ndarray, shape (n_units, n_window, n_channels)
        Templates.
    noise_uv : ndarray, shape (n_channels,), optional
        Noise σ per channel; channels whose template peak-to-peak is below
        4 σ are left out as well.
    """
    if len(templates) == 0:
        return np.zeros((0, templates.shape[-1]), dtype=bool)
    p2p = peak_to_peak(templates)
    mask = p2p >= CHANNEL_FRACTION * p2p.max(axis=1, keepdims=True)
    if noise_uv is not None:
        mask &= p2p >= 4.0 * noise_uv[None, :]
    mask[np.arange(len(p2p)), p2p.argmax(axis=1)] = True
    return mask


@dataclass(frozen=True)
class Matches:
    """Result of template matching.

    Parameters
    ----------
    unit : ndarray of int
        Index (into the template array) of the best template, -1 when none
        explains the FP well enough (residual at or above the threshold).
    best : ndarray of int
        Index of the best template, whether accepted or not.
    shift : ndarray of int
        Shift of the best fit (samples, positive = later).
    residual : ndarray of float
        Normalised residual on the template's channels:
        ``‖x − t‖² / ‖x‖²`` (0 = perfect fit, 1 = nothing explained).
    isolation : ndarray of float
        Simplified silhouette ``(b − a) / max(a, b)`` of the squared
        distance ``a`` to the best template and ``b`` to the next best
        (or to no template at all).
    overlap_unit : ndarray of int
        Second template of a two-unit fit (-1 when the FP was explained by
        one template).
    """

    unit: np.ndarray
    best: np.ndarray
    shift: np.ndarray
    residual: np.ndarray
    isolation: np.ndarray
    overlap_unit: np.ndarray


def _masked_ratio(x: np.ndarray, fit: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``Σ (x − fit)² / Σ x²`` over the masked channels, per FP."""
    # per-channel energies first: the mask then weighs channels, not samples
    diff = x - fit
    w = mask.astype(np.float64)
    num = (np.einsum("ntc,ntc->nc", diff, diff) * w).sum(axis=1)
    den = (np.einsum("ntc,ntc->nc", x, x) * w).sum(axis=1)
    return num / np.maximum(den, 1e-12)


def _window_at(snippets: np.ndarray, at: int, half: int) -> np.ndarray:
    """``(n_fp, (2 * half + 1) * n_channels)`` windows of every FP centred at index ``at``.

    A view of the snippets (no copy) when the window lies inside them.
    """
    n, n_win, _ = snippets.shape
    if at - half < 0 or at + half >= n_win:
        return take_windows(snippets, at, np.zeros(n, dtype=np.int64), half).reshape(n, -1)
    return snippets[:, at - half : at + half + 1].reshape(n, -1)


def match_templates(
    snippets: np.ndarray,
    centre: int,
    templates: np.ndarray,
    masks: np.ndarray,
    max_shift: int,
    threshold: float,
    overlap: bool = True,
    noise_uv: np.ndarray | None = None,
    noise_fit: float = 1.5,
) -> Matches:
    """Assign each FP to the template that explains it best.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_snippet, n_channels)
        Snippets with the FP time at ``centre``.
    centre : int
        Index of the FP time.
    templates : ndarray, shape (n_units, 2 * half + 1, n_channels)
        Templates (the window half-width is read from their length).
    masks : ndarray of bool, shape (n_units, n_channels)
        Channels of each template.
    max_shift : int
        Shifts ``-max_shift..max_shift`` are tried.
    threshold : float
        Largest normalised residual accepted.
    overlap : bool
        Try a two-template fit on FPs that one template does not explain.
    noise_uv : ndarray, shape (n_channels,), optional
        Noise σ per channel. With it, an FP is also accepted when its
        residual is no more than ``noise_fit`` times the noise energy
        expected on the template's channels while the template removes more
        energy than that noise holds: for a small unit in strong noise, the
        noise alone keeps the normalised residual above ``threshold``.
    noise_fit : float
        See ``noise_uv``.

    Returns
    -------
    Matches
    """
    n = len(snippets)
    k = len(templates)
    if n == 0 or k == 0:
        return Matches(
            np.full(n, -1, np.int64),
            np.full(n, -1, np.int64),
            np.zeros(n, np.int64),
            np.ones(n),
            np.zeros(n),
            np.full(n, -1, np.int64),
        )
    half = (templates.shape[1] - 1) // 2
    flat_t = templates.reshape(k, -1)
    tt = np.einsum("kd,kd->k", flat_t, flat_t)
    best_per_unit = np.full((n, k), np.inf)
    shift_per_unit = np.zeros((n, k), dtype=np.int64)
    empty_fit = np.zeros(n)
    shifts = range(-max_shift, max_shift + 1)
    n_win = snippets.shape[1]
    inside = centre - max_shift - half >= 0 and centre + max_shift + half < n_win
    if inside:
        # every shift of every template in one product with the whole snippets
        frames = np.zeros((len(shifts), k, n_win, snippets.shape[2]), dtype=np.float32)
        for i, s in enumerate(shifts):
            frames[i, :, centre + s - half : centre + s + half + 1] = templates
        products = snippets.reshape(n, -1) @ frames.reshape(len(shifts) * k, -1).T
        power = np.einsum("ntc,ntc->nt", snippets, snippets)
    for i, s in enumerate(shifts):
        if inside:
            xx = power[:, centre + s - half : centre + s + half + 1].sum(axis=1)
            xt = products[:, i * k : (i + 1) * k]
        else:
            x = _window_at(snippets, centre + s, half)
            xx = np.einsum("nd,nd->n", x, x)
            xt = x @ flat_t.T
        if s == 0:
            empty_fit = xx.astype(np.float64)
        score = xx[:, None] - 2.0 * xt + tt[None, :]
        better = score < best_per_unit
        best_per_unit = np.where(better, score, best_per_unit)
        shift_per_unit = np.where(better, s, shift_per_unit)
    rows = np.arange(n)
    unit = best_per_unit.argmin(axis=1)
    a = best_per_unit[rows, unit]
    others = best_per_unit.copy()
    others[rows, unit] = np.inf
    b = np.minimum(others.min(axis=1), empty_fit)
    isolation = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    shift = shift_per_unit[rows, unit]
    x_best = take_windows(snippets, centre, shift, half)
    residual = _masked_ratio(x_best, templates[unit], masks[unit])
    overlap_unit = np.full(n, -1, dtype=np.int64)
    if overlap and k >= 1:
        # a second unit is looked for wherever the first leaves a fair share
        # unexplained; it is kept when it halves the residual
        # (judged on all channels: the other unit may lie outside the first's)
        every = np.ones(masks.shape[1], dtype=bool)
        full = _masked_ratio(x_best, templates[unit], np.broadcast_to(every, (n, len(every))))
        suspect = full >= OVERLAP_CHECK * threshold
        if noise_uv is not None:
            # or wherever far more energy is left than the noise holds
            left = np.square(x_best - templates[unit]).sum(axis=(1, 2))
            suspect |= (
                left > OVERLAP_NOISE * (2 * half + 1) * float(np.square(noise_uv).sum())
            ) & (full >= OVERLAP_MIN_SHARE)
        doubtful = np.flatnonzero(suspect)
        wide = max(0, min(centre - half, snippets.shape[1] - 1 - centre - half))
        n_snip = snippets.shape[1]
        noise_energy = n_snip * float(np.square(noise_uv).sum()) if noise_uv is not None else np.inf
        for i in doubtful:
            fit = _fit_two(snippets[i], centre, templates, masks, max_shift, wide, unit[i])
            if fit is None or fit[3] >= threshold:
                continue
            # kept when it halves the residual (in the window, or over the whole
            # snippet while removing far more than noise)
            x = snippets[i].astype(np.float64)
            one = float(
                np.square(x - place_template(templates[unit[i]], n_snip, centre, shift[i])).sum()
            )
            two = fit[4] * float(np.square(x).sum())
            if fit[4] < 0.5 * full[i] or one - two > max(OVERLAP_NOISE * noise_energy, 0.5 * one):
                unit[i], shift[i], overlap_unit[i], residual[i] = fit[:4]
    accepted = residual < threshold
    if noise_uv is not None:
        x_fit = take_windows(snippets, centre, shift, half)
        m = masks[unit]
        w = m[:, None, :].astype(np.float32)
        expected = (2 * half + 1) * (m * np.square(noise_uv)[None, :]).sum(axis=1)
        resid = (np.square(x_fit - templates[unit]) * w).sum(axis=(1, 2))
        energy = (np.square(x_fit) * w).sum(axis=(1, 2))
        plain = overlap_unit < 0
        quiet = (resid <= noise_fit * expected) & (energy - resid >= expected) & plain
        accepted |= quiet
    best = unit.astype(np.int64)
    return Matches(np.where(accepted, best, -1), best, shift, residual, isolation, overlap_unit)


def place_template(template: np.ndarray, n_snippet: int, centre: int, shift: int) -> np.ndarray:
    """A snippet-length array holding ``template`` centred at ``centre + shift``."""
    half = (template.shape[0] - 1) // 2
    out = np.zeros((n_snippet, template.shape[1]), dtype=np.float32)
    a = centre + shift - half
    lo, hi = max(a, 0), min(a + template.shape[0], n_snippet)
    if hi > lo:
        out[lo:hi] = template[lo - a : hi - a]
    return out


def _best_single(
    residual: np.ndarray, centre: int, templates: np.ndarray, shifts: np.ndarray
) -> tuple[int, int, float]:
    """Template and shift removing the most energy from ``residual`` (one snippet)."""
    half = (templates.shape[1] - 1) // 2
    k = len(templates)
    wins = take_windows(
        np.broadcast_to(residual, (len(shifts), *residual.shape)), centre, shifts, half
    ).reshape(len(shifts), -1)
    flat_t = templates.reshape(k, -1)
    gain = 2.0 * (wins @ flat_t.T) - np.einsum("kd,kd->k", flat_t, flat_t)[None, :]
    s_i, k_i = np.unravel_index(int(np.argmax(gain)), gain.shape)
    return int(k_i), int(shifts[s_i]), float(gain[s_i, k_i])


def _fit_two(
    x: np.ndarray,
    centre: int,
    templates: np.ndarray,
    masks: np.ndarray,
    max_shift: int,
    wide: int,
    first: int,
) -> tuple[int, int, int, float, float] | None:
    """Greedy two-template fit of one snippet.

    Returns ``(unit, shift, other, residual on the two units' channels,
    residual on all channels)``, or None when no second template helps.
    """
    n_snip = x.shape[0]
    near = np.arange(-max_shift, max_shift + 1)
    far = np.arange(-wide, wide + 1)
    k1, s1, _ = _best_single(x, centre, templates[first : first + 1], near)
    k1 = first
    p1 = place_template(templates[k1], n_snip, centre, s1)
    k2, s2, gain = _best_single(x - p1, centre, templates, far)
    if gain <= 0:
        return None
    p2 = place_template(templates[k2], n_snip, centre, s2)
    # refit the first template once the second is accounted for
    k1, s1, _ = _best_single(x - p2, centre, templates, near)
    p1 = place_template(templates[k1], n_snip, centre, s1)
    mask = masks[k1] | masks[k2]
    r = float(_masked_ratio(x[None], (p1 + p2)[None], mask[None])[0])
    every = np.ones((1, x.shape[1]), dtype=bool)
    r_full = float(_masked_ratio(x[None], (p1 + p2)[None], every)[0])
    # the FP is the discharge whose peak sits at the FP time
    if abs(s2) < abs(s1):
        k1, s1, k2 = k2, s2, k1
    return k1, s1, k2, r, r_full


def noise_from_edges(snippets: np.ndarray, edge: int) -> np.ndarray:
    """Noise σ per channel from the first and last ``edge`` samples of the snippets.

    A median absolute value is used (σ ≈ 1.4826 · median |x|), so the tails
    of MUAPs and other units' discharges that reach the window edges in a
    minority of snippets do not inflate it.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_snippet, n_channels)
        Band-passed snippets (zero mean).
    edge : int
        Samples taken at each end.

    Returns
    -------
    ndarray, shape (n_channels,)
    """
    if len(snippets) == 0:
        return np.zeros(snippets.shape[-1])
    edge = max(1, min(edge, snippets.shape[1] // 2))
    parts = np.concatenate([snippets[:, :edge], snippets[:, -edge:]], axis=1)
    return 1.4826 * np.median(np.abs(parts.reshape(-1, parts.shape[-1])), axis=0)


def composite_templates(
    templates: np.ndarray, counts: np.ndarray, max_shift: int, max_residual: float = 0.15
) -> np.ndarray:
    """Templates that are the sum of two other, larger units' templates.

    Overlapping discharges of two units that recur at similar lags form a
    dense group of their own; its template is then explained by two others
    placed at two shifts, while neither alone explains it. Such groups are
    dissolved, and their FPs left to the two-template fit of
    :func:`match_templates`. A template that one other template already
    explains to within ``max_residual``, or whose second part carries less
    than ``max_residual`` of its energy, is no composite (the second part
    would only fit the difference between two alike units).

    Parameters
    ----------
    templates : ndarray, shape (n_units, n_window, n_channels)
        Templates.
    counts : array of int
        FPs of each unit; a composite must have fewer than both its parts.
    max_shift : int
        Shift range of the first part; the second may sit anywhere in the
        window.
    max_residual : float
        Largest residual energy fraction of a composite's two-part fit.

    Returns
    -------
    ndarray of bool, shape (n_units,)
    """
    k = len(templates)
    out = np.zeros(k, dtype=bool)
    if k < 3:
        return out
    n_t = templates.shape[1]
    half = (n_t - 1) // 2
    pad = half  # room for the second part anywhere in the window
    for c in range(k):
        others = np.flatnonzero((np.arange(k) != c) & (counts > counts[c]))
        if len(others) < 2:
            continue
        x = np.zeros((n_t + 2 * pad, templates.shape[2]), dtype=np.float32)
        x[pad : pad + n_t] = templates[c]
        centre = pad + half
        near = np.arange(-max_shift, max_shift + 1)
        far = np.arange(-half, half + 1)
        k1, s1, _ = _best_single(x, centre, templates[others], near)
        p1 = place_template(templates[others[k1]], len(x), centre, s1)
        energy = float(np.square(x).sum())
        if energy <= 0 or float(np.square(x - p1).sum()) < max_residual * energy:
            # one template alone explains it: a variant of that unit or a
            # distinct unit of alike shape, not an overlap of two
            continue
        rest = np.delete(others, k1)
        k2, s2, gain = _best_single(x - p1, centre, templates[rest], far)
        if gain <= 0:
            continue
        p2 = place_template(templates[rest[k2]], len(x), centre, s2)
        # an overlap of two discharges: the second part carries a share of
        # the energy as large as the residual allowed (a few percent fitted
        # by a second template is the difference between two alike units)
        second = float(np.square(p2).sum())
        fitted = float(np.square(x - p1 - p2).sum()) < max_residual * energy
        if fitted and second >= max_residual * energy:
            out[c] = True
    return out


def redundant_templates(
    snippets: np.ndarray,
    centre: int,
    templates: np.ndarray,
    labels: np.ndarray,
    max_shift: int,
    threshold: float,
    noise_uv: np.ndarray,
    max_fraction: float = 0.05,
    min_explained: float = 0.5,
    min_gain: float = 10.0,
) -> np.ndarray:
    """Small units whose discharges the large units already explain.

    In a long recording of frequently discharging units, a unit's
    discharges that overlap another's, or that noise deforms alike, can
    gather into small groups of their own. A unit with at most
    ``max_fraction`` of the largest unit's discharges is redundant when at
    least ``min_explained`` of its discharges are accepted by the templates
    of the large units alone (one unit, or two for overlapping discharges,
    as in :func:`match_templates`) while its own template lowers their
    median normalised residual less than ``min_gain`` times: the
    discharges of a distinct unit fit their own template down to the noise,
    far better than any other unit's, whereas a group of overlapped or
    deformed discharges of a large unit fits its own median little better
    than the large unit's template (or the two-unit fit). Only large units
    are offered as alternatives, so a distinct small unit that noise split
    in two is not explained away by its own halves.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_snippet, n_channels)
        Snippets with the FP time at ``centre``.
    centre : int
        Index of the FP time.
    templates : ndarray, shape (n_units, 2 * half + 1, n_channels)
        Templates.
    labels : array of int, shape (n_fp,)
        Index into ``templates`` of each FP's unit (-1: none).
    max_shift : int
        Shifts tried when matching.
    threshold : float
        Largest normalised residual accepted (as in :func:`match_templates`).
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    max_fraction : float
        Units with more discharges than this fraction of the largest are
        never redundant (and are the alternatives offered).
    min_explained : float
        Fraction of a unit's discharges the large units must accept.
    min_gain : float
        Factor by which a unit's own template must lower the median
        residual of its discharges, compared with the large units, to be
        kept.

    Returns
    -------
    ndarray of bool, shape (n_units,)
    """
    k = len(templates)
    out = np.zeros(k, dtype=bool)
    if k < 2:
        return out
    counts = np.bincount(labels[labels >= 0], minlength=k)[:k]
    large = counts > max_fraction * counts.max()
    if not large.any():
        return out
    masks = template_channels(templates, noise_uv)
    for u in np.flatnonzero(~large & (counts > 0)):
        members = np.flatnonzero(labels == u)
        m = match_templates(
            snippets[members],
            centre,
            templates[large],
            masks[large],
            max_shift,
            threshold,
            overlap=True,
            noise_uv=noise_uv,
        )
        own = match_templates(
            snippets[members], centre, templates[u : u + 1], masks[u : u + 1], max_shift, threshold
        )
        explained = float((m.unit >= 0).mean()) >= min_explained
        # a distinct small unit fits its own template far better than any other
        gain = float(np.median(m.residual)) / max(float(np.median(own.residual)), 1e-12)
        out[u] = explained and gain < min_gain
    return out
