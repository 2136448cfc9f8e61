"""Named scenarios: pathologies and clinical contexts.

Each preset is an assumption about a population, stated with its source.
Fasciculation rates are per unit; the total FP rate of a recording is their
sum over the fasciculating units. For reference, surface recordings of ALS
muscles show a median of 40.5 FP/min (IQR 10.6-79.4; SPiQE, Bashford et al.
2020), benign fasciculation is usually far sparser in a given muscle but its
units may fire faster (Fermont et al. 2010; Mills 2010).

References
----------
Bashford J et al. (2020). SPiQE: an automated analytical tool for detecting
and characterising fasciculations in amyotrophic lateral sclerosis. Clin
Neurophysiol 130:1083-1090.
Fermont J, Arts IM, Overeem S, Kleine BU, Schelhaas HJ, Zwarts MJ (2010).
Prevalence and distribution of fasciculations in healthy adults: effect of
age, caffeine consumption and exercise. Amyotroph Lateral Scler 11:181-186.
Mills KR (2010). Characteristics of fasciculations in amyotrophic lateral
sclerosis and the benign fasciculation syndrome. Brain 133:3458-3469.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fasciq.errors import ParameterError
from fasciq.simulate.artefacts import ArtefactParams, BadChannelParams, EcgParams
from fasciq.simulate.firing import FasciculationParams, VoluntaryEpoch, VoluntaryParams
from fasciq.simulate.pool import PoolParams, Reinnervation
from fasciq.simulate.scenario import Scenario


@dataclass(frozen=True)
class Preset:
    """A named scenario recipe.

    Parameters
    ----------
    name : str
        Preset name (``fasciq simulate --preset NAME``).
    description : str
        One line for ``--list-presets``.
    parts : callable
        ``parts(duration_s) -> dict`` of :class:`Scenario` fields.
    """

    name: str
    description: str
    parts: Callable[[float], dict[str, Any]]

    def scenario(
        self, duration_s: float = 60.0, fs: float = 2048.0, grid: str = "GR08MM1305", seed: int = 0
    ) -> Scenario:
        """The scenario of this preset for a recording of ``duration_s``."""
        return Scenario(
            duration_s=duration_s,
            fs=fs,
            grid=grid,
            seed=seed,
            preset=self.name,
            **self.parts(duration_s),
        )


def _voluntary_pool(n: int = 25, **kw: Any) -> PoolParams:
    return PoolParams(
        n_units=n,
        unit_class="voluntary",
        fibres_min=60,
        size_ratio=30.0,
        depth_range_mm=(2.0, 18.0),
        **kw,
    )


_CONTRACTIONS = VoluntaryParams(
    every_s=150.0, duration_range_s=(5.0, 20.0), level_range=(0.15, 0.5)
)


def healthy(duration_s: float) -> dict[str, Any]:
    """Healthy muscle at rest: few, small, rarely firing units.

    Assumption: 3 units fasciculating at 0.3-2/min each (benign fasciculation
    is present in most healthy adults, Fermont et al. 2010), occasional
    double discharges (1 %); a couple of 5-20 s contractions every few
    minutes; ECG, rare pops and motion.
    """
    return {
        "fasciculating": PoolParams(
            n_units=3, fibres_min=60, size_ratio=10.0, depth_range_mm=(2.0, 10.0)
        ),
        "fasciculation": FasciculationParams(
            rate_range_per_min=(0.3, 2.0), double_probability=0.01
        ),
        "voluntary": _voluntary_pool(),
        "contraction": _CONTRACTIONS,
        "artefacts": ArtefactParams(),
    }


def bfs(duration_s: float) -> dict[str, Any]:
    """Benign fasciculation syndrome: small, simple, fast-firing units.

    Assumption (Mills 2010: benign FPs are simpler and fire faster than in
    ALS): 6 small units (40-320 fibres, tight end-plate zone), 5-60/min each.
    """
    return {
        "fasciculating": PoolParams(
            n_units=6,
            fibres_min=40,
            size_ratio=8.0,
            endplate_sd_mm=1.5,
            cv_group_sd_m_s=0.05,
            depth_range_mm=(2.0, 10.0),
        ),
        "fasciculation": FasciculationParams(
            rate_range_per_min=(5.0, 60.0), double_probability=0.02
        ),
        "voluntary": _voluntary_pool(),
        "contraction": _CONTRACTIONS,
    }


def als(duration_s: float) -> dict[str, Any]:
    """ALS: more and larger fasciculating units, higher rates.

    Assumption: 12 units of 100-3000 fibres firing 0.5-20/min each (≈60 FP/min
    in all, within the SPiQE IQR of 10.6-79.4/min); double discharges 5 %,
    F-wave-like pairs 1 % (de Carvalho & Swash 2013); one noisy channel.
    """
    return {
        "fasciculating": PoolParams(
            n_units=12, fibres_min=100, size_ratio=30.0, depth_range_mm=(2.0, 12.0)
        ),
        "fasciculation": FasciculationParams(
            rate_range_per_min=(0.5, 20.0), double_probability=0.05, fwave_probability=0.01
        ),
        "voluntary": _voluntary_pool(20),
        "contraction": _CONTRACTIONS,
        "artefacts": ArtefactParams(bad=BadChannelParams(n_noisy=1)),
    }


def als_late(duration_s: float) -> dict[str, Any]:
    """Late ALS: reinnervated, enlarged, polyphasic and unstable units.

    Assumption: 80 % of 10 fasciculating units reinnervated (×3 fibres,
    end-plates scattered over ±7 mm, fibre conduction velocities spread by
    0.45 m/s, 20 % fibre-group blocking and 250 µs jitter per discharge:
    unstable shapes, Stålberg 1982); fewer voluntary units (motor neuron loss),
    enlarged but stable; a flat and a disconnected channel.
    """
    stable_reinn = Reinnervation(block_probability=0.0, jitter_us=0.0)
    return {
        "fasciculating": PoolParams(
            n_units=10,
            fibres_min=100,
            size_ratio=20.0,
            depth_range_mm=(2.0, 12.0),
            reinnervated_fraction=0.8,
            reinnervation=Reinnervation(),
        ),
        "fasciculation": FasciculationParams(
            rate_range_per_min=(0.5, 15.0), double_probability=0.05, fwave_probability=0.01
        ),
        "voluntary": _voluntary_pool(12, reinnervated_fraction=0.5, reinnervation=stable_reinn),
        "contraction": _CONTRACTIONS,
        "artefacts": ArtefactParams(bad=BadChannelParams(n_flat=1, n_disconnected=1)),
    }


def stimulant(duration_s: float) -> dict[str, Any]:
    """Stimulant exposure (caffeine, pseudoephedrine, salbutamol): more benign FPs.

    Assumption: healthy units, 5 of them, at 2-20/min (about five times the
    healthy rate). Source: stimulants such as caffeine, pseudoephedrine and
    the β-agonist salbutamol are listed as direct causes of benign
    fasciculation (Wikipedia "Fasciculation"; Verywell Health, "Benign
    fasciculation syndrome"); Fermont et al. 2010 relate caffeine intake to
    fasciculation in healthy adults. The factor is an assumption.
    """
    parts = healthy(duration_s)
    parts["fasciculating"] = replace(parts["fasciculating"], n_units=5)
    parts["fasciculation"] = FasciculationParams(
        rate_range_per_min=(2.0, 20.0), double_probability=0.01
    )
    return parts


def low_magnesium(duration_s: float) -> dict[str, Any]:
    """Hypomagnesaemia: more frequent benign fasciculation.

    Assumption: 8 healthy-sized units at 2-30/min. Source: low magnesium
    lowers the threshold of axonal stimulation and raises nerve and muscle
    excitability; fasciculations were seen when hypomagnesaemia was induced
    in volunteers (Medscape, "Hypomagnesemia: signs and symptoms"). The rates
    are an assumption.
    """
    parts = healthy(duration_s)
    parts["fasciculating"] = replace(parts["fasciculating"], n_units=8)
    parts["fasciculation"] = FasciculationParams(
        rate_range_per_min=(2.0, 30.0), double_probability=0.02
    )
    return parts


def post_exertion(duration_s: float) -> dict[str, Any]:
    """Rest after sustained effort: a long contraction, then FPs that fade.

    Assumption: a contraction at 50 % drive over the first fifth of the
    recording (≤ 60 s), then the fasciculation rate jumps to 6× the healthy
    rate and decays back with a 2-minute time constant. Source: exercise is
    among the commonest causes of benign fasciculation, typically noticed at
    rest after a workout (Verywell Health, "Benign fasciculation syndrome";
    Fermont et al. 2010). The factor and time constant are assumptions.
    """
    parts = healthy(duration_s)
    start = min(2.0, 0.05 * duration_s)
    length = max(min(60.0, 0.2 * duration_s), 1.0)
    end = start + length
    tau = 120.0
    points = [(0.0, 1.0), (end, 1.0)]
    for k in range(1, 25):
        t = end + k * tau / 6
        points.append((round(t, 3), round(1.0 + 5.0 * pow(2.718281828459045, -(t - end) / tau), 4)))
    points.insert(2, (round(end + 1e-3, 3), 6.0))
    parts["fasciculating"] = replace(parts["fasciculating"], n_units=5)
    parts["fasciculation"] = FasciculationParams(
        rate_range_per_min=(0.5, 3.0), double_probability=0.01, modulation=tuple(points)
    )
    parts["contraction"] = VoluntaryParams(
        epochs=(VoluntaryEpoch(start, length, 0.5, min(1.5, length / 4)),)
    )
    return parts


def succinylcholine(duration_s: float) -> dict[str, Any]:
    """Succinylcholine: a widespread burst of fasciculation, then silence.

    Assumption: the drug is given at 15 % of the recording (≤ 30 s); after
    a short delay 30 units (most of the muscle) fasciculate at about 300× the
    resting rate for up to 30 s, the burst fades, and depolarising block then
    silences the muscle for the rest of the recording (no voluntary
    activity: the subject is anaesthetised). Source: succinylcholine
    activates muscle fibres before blocking them, so fasciculation is seen
    in most patients soon after administration; effects begin within a
    minute and last 4-6 min (e-SAFE Anaesthesia, "Succinylcholine";
    DrugBank/MedPath, "Succinylcholine"). Timing and rates are assumptions.
    """
    t_adm = min(30.0, 0.15 * duration_s)
    delay = min(15.0, 0.1 * duration_s)
    burst = min(30.0, 0.3 * duration_s)
    fade = min(10.0, 0.1 * duration_s)
    on = t_adm + delay
    modulation = (
        (0.0, 1.0),
        (on, 1.0),
        (on + 0.2 * burst, 300.0),
        (on + burst, 300.0),
        (on + burst + fade, 0.0),
        (max(duration_s, on + burst + fade) + 1.0, 0.0),
    )
    return {
        "fasciculating": PoolParams(
            n_units=30, fibres_min=60, size_ratio=30.0, depth_range_mm=(2.0, 18.0)
        ),
        "fasciculation": FasciculationParams(
            rate_range_per_min=(0.2, 1.0),
            refractory_s=0.08,
            double_probability=0.0,
            modulation=modulation,
        ),
        "voluntary": _voluntary_pool(0),
        "contraction": VoluntaryParams(every_s=0.0),
        "artefacts": ArtefactParams(ecg=EcgParams(heart_rate_bpm=80.0)),
    }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "healthy", "healthy muscle at rest: rare fasciculations of a few small units", healthy
        ),
        Preset("bfs", "benign fasciculation syndrome: small, simple, fast-firing units", bfs),
        Preset("als", "ALS: more and larger fasciculating units at higher rates", als),
        Preset("als-late", "late ALS: reinnervated, polyphasic, unstable units", als_late),
        Preset(
            "stimulant", "caffeine/pseudoephedrine/salbutamol: more benign fasciculation", stimulant
        ),
        Preset("low-magnesium", "hypomagnesaemia: frequent benign fasciculation", low_magnesium),
        Preset(
            "post-exertion",
            "a sustained contraction, then fasciculation fading at rest",
            post_exertion,
        ),
        Preset(
            "succinylcholine", "a widespread burst of fasciculation, then silence", succinylcholine
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``."""
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise ParameterError(
            f"unknown simulation preset {name!r}",
            fix=f"use one of {', '.join(PRESETS)} (fasciq simulate --list-presets)",
            source="--preset",
        ) from None
