"""Per-unit morphology: size, duration, phases, turns and shape stability.

Morphology is measured on the unit's template at its peak channel (largest
peak-to-peak), with the same definitions as for single FPs
(:func:`fasciq.detect.features.waveform_features`) so unit and FP tables
agree. The template's noise is the channel noise divided by √n (median of
n discharges: × 1.25); excursions smaller than 2.5 % of the peak-to-peak
are not counted as phases or turns, so sub-µV wiggles of a very clean
template do not make it polyphasic.

Shape stability
---------------
Each discharge ``x`` is compared with the template ``t`` on the unit's
channels, aligned on the best shift; its *noise-corrected normalised
residual variance* is ``max(0, ‖x − t‖² − E_noise) / ‖t‖²``, where
``E_noise`` is the energy of noise expected on those samples. It is about
0 for a unit that repeats its shape (whatever its amplitude), and grows
when fibres block or jitter from discharge to discharge. The unit's
``stability`` is the median over its discharges; it is ``unstable`` above
:attr:`~fasciq.units.params.DescribeParams.unstable_threshold` (0.015:
1.5 % of the template's energy changing from discharge to discharge, after
sub-sample alignment) provided its template stands at least
``min_stability_snr`` noise σ above the noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import fft as sfft

from fasciq.detect.features import waveform_features
from fasciq.signal.robust import median as fast_median
from fasciq.units.params import DescribeParams


def template_morphology(
    template: np.ndarray,
    noise_uv: np.ndarray,
    n_discharges: int,
    fs: float,
    params: DescribeParams | None = None,
) -> dict[str, Any]:
    """Size and shape of a template at its peak channel.

    Parameters
    ----------
    template : ndarray, shape (n_window, n_channels)
        Unit template (µV).
    noise_uv : ndarray, shape (n_channels,)
        Noise σ of single discharges per channel.
    n_discharges : int
        Discharges the template was averaged from.
    fs : float
        Sampling rate in Hz.
    params : DescribeParams, optional
        Polyphasia threshold and onset fraction.

    Returns
    -------
    dict
        ``peak_channel`` (index), ``amplitude_uv`` (peak-to-peak),
        ``duration_ms``, ``phases``, ``turns``, ``polyphasic``.
    """
    params = params or DescribeParams()
    p2p = template.max(axis=0) - template.min(axis=0)
    ch = int(p2p.argmax())
    amp = float(p2p[ch])
    sigma_t = 1.25 * float(noise_uv[ch]) / np.sqrt(max(n_discharges, 1))
    sigma = max(sigma_t, 0.0125 * amp, 1e-6)
    feats = waveform_features(
        template[None, :, ch].astype(np.float64), np.array([sigma]), fs, params.edge_fraction
    )
    phases = int(feats["phases"][0])
    return {
        "peak_channel": ch,
        "amplitude_uv": amp,
        "duration_ms": float(feats["duration_ms"][0]),
        "phases": phases,
        "turns": int(feats["turns"][0]),
        "polyphasic": bool(phases > params.polyphasic_phases),
    }


def shape_variability(
    windows: np.ndarray,
    template: np.ndarray,
    mask: np.ndarray,
    noise_uv: np.ndarray,
    resid_scale: float = 1.0,
) -> np.ndarray:
    """Noise-corrected normalised residual variance of each discharge.

    Parameters
    ----------
    windows : ndarray, shape (n_discharges, n_window, n_channels)
        The unit's discharges, aligned on the template.
    template : ndarray, shape (n_window, n_channels)
        Unit template.
    mask : ndarray of bool, shape (n_channels,)
        Channels of the unit.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    resid_scale : float
        Factor on ``‖x − t‖²`` before the noise is subtracted (below 1 when
        ``t`` itself is estimated from few discharges and adds its own
        estimation error to the residual).

    Returns
    -------
    ndarray, shape (n_discharges,)
        ``max(0, s ‖x − t‖² − E_noise) / ‖t‖²`` on the unit's channels.
    """
    if len(windows) == 0:
        return np.zeros(0)
    t = np.asarray(template[:, mask], dtype=np.float32)
    x = subsample_align(np.asarray(windows[:, :, mask], dtype=np.float32), t)
    diff = (x - t[None]).reshape(len(x), -1)
    resid = resid_scale * np.einsum("nd,nd->n", diff, diff).astype(np.float64)
    expected = x.shape[1] * float(np.square(noise_uv[mask]).sum())
    energy = max(float(np.square(t, dtype=np.float64).sum()), 1e-12)
    return np.maximum(resid - expected, 0.0) / energy


def unit_shape_variability(
    windows: np.ndarray,
    template: np.ndarray,
    mask: np.ndarray,
    noise_uv: np.ndarray,
    exact_below: int = 30,
) -> np.ndarray:
    """Shape variability of each discharge against the others of its unit.

    A template built from a few discharges leans towards each of them: with
    four discharges, the residual of each against their median is roughly
    halved, and an unstable unit reads as stable. Up to ``exact_below``
    discharges each one is therefore compared with the median of the
    *other* discharges (leave one out), its residual scaled by ``(n − 1) / n``
    for the estimation error of that median (exact for a mean); beyond that
    the bias is negligible and the common ``template`` is used.

    Parameters
    ----------
    windows : ndarray, shape (n_discharges, n_window, n_channels)
        The unit's discharges, aligned on the template.
    template : ndarray, shape (n_window, n_channels)
        Median of ``windows`` (used for larger units).
    mask : ndarray of bool, shape (n_channels,)
        Channels of the unit.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    exact_below : int
        Largest unit compared leave-one-out.

    Returns
    -------
    ndarray, shape (n_discharges,)
        As :func:`shape_variability`.
    """
    n = len(windows)
    if n < 3 or n > exact_below:
        return shape_variability(windows, template, mask, noise_uv)
    out = np.empty(n)
    others = np.ones(n, dtype=bool)
    for i in range(n):
        others[i] = False
        own = fast_median(windows[others], axis=0)
        out[i] = shape_variability(windows[i : i + 1], own, mask, noise_uv, (n - 1) / n)[0]
        others[i] = True
    return out


def subsample_align(x: np.ndarray, template: np.ndarray, max_lag: int = 2) -> np.ndarray:
    """Shift each discharge by a fraction of a sample onto the template.

    The lag of the largest multichannel cross-correlation (within
    ``±max_lag`` samples) is refined by a parabola through its neighbours and
    applied as a phase ramp in the frequency domain (on a zero-padded
    window, so nothing wraps around). Integer alignment leaves up to half a
    sample of error, which alone makes a repeating MUAP look about 2 %
    variable at 2 kHz.

    Parameters
    ----------
    x : ndarray, shape (n_discharges, n_window, n_channels)
        Discharges, already aligned to the nearest sample.
    template : ndarray, shape (n_window, n_channels)
        Template.
    max_lag : int
        Lags searched.

    Returns
    -------
    ndarray, same shape as ``x``
    """
    n, n_t, _ = x.shape
    if n == 0 or n_t < 2 * max_lag + 3:
        return x
    t = np.asarray(template, dtype=np.float64)
    lags = np.arange(-max_lag, max_lag + 1)
    cc = np.empty((n, len(lags)))
    for j, lag in enumerate(lags):
        if lag >= 0:
            cc[:, j] = np.einsum("ntc,tc->n", x[:, lag:], t[: n_t - lag])
        else:
            cc[:, j] = np.einsum("ntc,tc->n", x[:, :lag], t[-lag:])
    k = np.clip(cc.argmax(axis=1), 1, len(lags) - 2)
    rows = np.arange(n)
    y0, y1, y2 = cc[rows, k - 1], cc[rows, k], cc[rows, k + 1]
    den = y0 - 2 * y1 + y2
    frac = np.where(den < 0, 0.5 * (y0 - y2) / np.where(den < 0, den, -1.0), 0.0)
    delay = lags[k] + np.clip(frac, -1.0, 1.0)  # x is late by ``delay`` samples
    # single precision: the shift's rounding error is far below the noise,
    # and the transforms are the bulk of describing a unit
    nfft = sfft.next_fast_len(2 * n_t, real=True)
    spec = sfft.rfft(x.astype(np.float32, copy=False), n=nfft, axis=1)
    freqs = sfft.rfftfreq(nfft)
    ramp = np.exp(2j * np.pi * freqs[None, :] * delay[:, None]).astype(np.complex64)
    spec *= ramp[:, :, None]
    return sfft.irfft(spec, n=nfft, axis=1)[:, :n_t]


def jiggle(windows: np.ndarray, mask: np.ndarray, noise_uv: np.ndarray) -> float:
    """Consecutive-discharge shape variability (a jiggle-like figure).

    The median over consecutive pairs of ``max(0, ‖x_{i+1} − x_i‖² − 2 E_noise)
    / (‖x_i‖² + ‖x_{i+1}‖²)`` on the unit's channels; ``nan`` with fewer
    than two discharges.

    Parameters
    ----------
    windows : ndarray, shape (n_discharges, n_window, n_channels)
        Aligned discharges in time order.
    mask : ndarray of bool, shape (n_channels,)
        Channels of the unit.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    """
    if len(windows) < 2:
        return float("nan")
    x = np.asarray(windows[:, :, mask], dtype=np.float32).reshape(len(windows), -1)
    step = x[1:] - x[:-1]
    diff = np.einsum("nd,nd->n", step, step).astype(np.float64)
    energy = np.einsum("nd,nd->n", x, x).astype(np.float64)
    expected = windows.shape[1] * float(np.square(noise_uv[mask]).sum())
    den = np.maximum(energy[1:] + energy[:-1] - 2 * expected, 1e-12)
    return float(np.median(np.maximum(diff - 2 * expected, 0.0) / den))
