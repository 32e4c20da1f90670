"""Per-model figures of one property family, drawn from the ``details`` an evaluation stored.

One function per family; each takes the evaluation's ``details`` (and, where it can use them, the evaluation's
values as ``{value name: (value, reference)}``) and returns a matplotlib :class:`~matplotlib.figure.Figure`
(Agg, no pyplot state) or None when the details lack what it needs:

- :func:`eos_figure`: E(V) per atom of the EOS scan (:class:`mlipscope.properties.eos.EquationOfState`) with its
  Birch–Murnaghan fit and the reference equilibrium volume;
- :func:`phonon_figure`: dispersion along the band path and the DOS per atom
  (:class:`mlipscope.properties.phonons.Phonons`), with the reference frequencies at the special points;
- :func:`neb_figure`: the NEB energy profile along the path (:class:`mlipscope.properties.migration.MigrationBarrier`)
  with the reference barrier;
- :func:`re_cdf_figure`: CDFs of δF and δθ on the rare-event atoms
  (:class:`mlipscope.properties.rare_events.RareEventForces`), as in the seed paper.

The extended families (stacking faults, dimers, κ, thermal expansion, melting, MD stability) have theirs in
:mod:`mlipscope.report.figures_extended`. :data:`PROPERTY_FIGURES` lists them all; :func:`property_figures`
draws every one that applies to some details.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from ase.eos import EquationOfState as AseEquationOfState
from ase.eos import birchmurnaghan
from matplotlib.figure import Figure

from mlipscope.errors import InputError
from mlipscope.properties.rare_events import ANGLE_CAP_DEG, FORCE_CAP_EV_A, re_errors_from_details
from mlipscope.report.figures_dynamics import arrhenius_figure
from mlipscope.report.figures_extended import (
    conductivity_figure,
    dimer_figure,
    expansion_figure,
    gsfe_figure,
    melting_figure,
    stability_figure,
)
from mlipscope.units import EV_PER_A3_TO_GPA

# value name (without the property label) -> (value, reference); either may be NaN
Values = Mapping[str, tuple[float, float]]

# the thresholds of the fraction metrics of rare_events.re_metrics (frac_df_gt_0p5, frac_dtheta_gt_15/30)
_DF_MARK_EV_A = 0.5
_DTHETA_MARKS_DEG = (15.0, 30.0)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _numbers(seq: Any) -> np.ndarray | None:
    """A 1-D float array of ``seq``, or None when it is not a non-empty list of numbers."""
    try:
        arr = np.asarray(seq, dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.ndim == 1 and arr.size > 0 else None


def fit_birch_murnaghan(volumes: np.ndarray, energies: np.ndarray) -> tuple[float, float, float, float] | None:
    """(E0, B0, B0', V0) of a Birch–Murnaghan fit to E(V) (ase.eos, as the eos property fits it; units of the
    input: eV/atom, eV/Å³, 1, Å³/atom for per-atom input), or None when the fit fails or its minimum lies outside
    the sampled volumes."""
    if len(volumes) < 5:  # four parameters: fewer points leave the curve undetermined
        return None
    try:
        eos = AseEquationOfState(volumes, energies, eos="birchmurnaghan")
        eos.fit(warn=False)
        e0, b0, bp, v0 = (float(x) for x in eos.eos_parameters)
    except (RuntimeError, ValueError, TypeError, np.linalg.LinAlgError):
        return None
    if not (np.all(np.isfinite([e0, b0, bp, v0])) and b0 > 0 and volumes.min() <= v0 <= volumes.max()):
        return None
    return e0, b0, bp, v0


def eos_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    """E(V) per atom of the EOS scan (needs ``volumes_a3_per_atom`` and ``energies_ev_per_atom``) with its
    Birch–Murnaghan fit, and the reference equilibrium volume as a dashed vertical line when ``values`` holds the
    model's and the reference's ``lattice_constant_a``: V_ref = V0 (a_ref / a_model)³ (the eos property's a is the
    relaxed cell scaled to the fitted V0, so the cell's shape is the model's)."""
    volumes = _numbers(details.get("volumes_a3_per_atom"))
    energies = _numbers(details.get("energies_ev_per_atom"))
    if volumes is None or energies is None or len(volumes) != len(energies) or len(volumes) < 2:
        return None
    fig = Figure(figsize=(5.8, 4.0), layout="constrained")
    ax = fig.subplots()
    order = np.argsort(volumes)
    ax.plot(volumes[order], energies[order], "o", color="C0", ms=5, label="model")
    fit = fit_birch_murnaghan(volumes, energies)
    a_model, a_ref = (values or {}).get("lattice_constant_a", (math.nan, math.nan))
    v_ref = math.nan
    if fit is not None and _finite(a_model) and _finite(a_ref) and float(a_model) > 0:
        v_ref = fit[3] * (float(a_ref) / float(a_model)) ** 3
    if fit is not None:
        e0, b0, bp, v0 = fit
        low, high = float(volumes.min()), float(volumes.max())
        if math.isfinite(v_ref):  # the curve reaches the reference line
            low, high = min(low, v_ref), max(high, v_ref)
        grid = np.linspace(low, high, 200)
        label = f"Birch–Murnaghan fit: V0 = {v0:.4g} Å³/atom, B = {b0 * EV_PER_A3_TO_GPA:.3g} GPa"
        ax.plot(grid, birchmurnaghan(grid, e0, b0, bp, v0), "-", color="C0", lw=1.4, label=label)
        ax.axvline(v0, color="C0", ls=":", lw=1, label="model V0")
    if math.isfinite(v_ref):
        ax.axvline(v_ref, color="k", ls="--", lw=1.2, label=f"reference V0 = {v_ref:.4g} Å³/atom (a = {a_ref:.4g} Å)")
    ax.set(xlabel="volume (Å³/atom)", ylabel="energy (eV/atom)", title=title or "Equation of state")
    ax.legend(fontsize=7)
    return fig


def _point_key(label: str) -> str:
    return "gamma" if label in ("Γ", "G") else label.lower()


def _reference_frequencies(values: Values | None, tick_labels: list[str]) -> dict[str, list[float]]:
    """Special-point key (``gamma``, ``x``, ``l``...) -> reference frequencies (THz) of the evaluation's values
    named ``<point>_<branch>_thz`` (e.g. ``x_ta_thz``, ``gamma_lto_thz``) whose point is on the path."""
    keys = {_point_key(p) for label in tick_labels for p in label.split("|")}
    out: dict[str, list[float]] = {}
    for name, (_, reference) in (values or {}).items():
        parts = name.split("_")
        if len(parts) < 3 or parts[-1] != "thz" or "acoustic" in parts or not _finite(reference):
            continue
        if parts[0] in keys:
            out.setdefault(parts[0], []).append(float(reference))
    return out


def phonon_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    """Phonon dispersion (``band_distances``, ``band_frequencies_thz``, ``band_labels``) with the reference
    frequencies at the special points as black circles, and the DOS per atom beside it (``dos_frequency_thz``,
    ``dos_states_thz_atom``) when stored. A DOS alone (vacancy cell) gives a DOS-only figure; neither gives None."""
    distances = details.get("band_distances")
    bands = details.get("band_frequencies_thz")
    has_bands = isinstance(distances, list) and isinstance(bands, list) and len(distances) == len(bands) > 0
    dos_f = _numbers(details.get("dos_frequency_thz"))
    dos_g = _numbers(details.get("dos_states_thz_atom"))
    has_dos = dos_f is not None and dos_g is not None and len(dos_f) == len(dos_g)
    if not has_bands and not has_dos:
        return None
    if has_bands and has_dos:
        fig = Figure(figsize=(9, 4), layout="constrained")
        ax_band, ax_dos = fig.subplots(1, 2, sharey=True, width_ratios=[3, 1])
    else:
        fig = Figure(figsize=(6.5 if has_bands else 4, 4), layout="constrained")
        ax = fig.subplots()
        ax_band, ax_dos = (ax, None) if has_bands else (None, ax)
    if has_bands:
        for seg_d, seg_f in zip(distances, bands, strict=True):
            seg_d, seg_f = np.asarray(seg_d, dtype=float), np.asarray(seg_f, dtype=float)
            ax_band.plot(seg_d, seg_f, color="C0", lw=1.0)
        ax_band.plot([], [], color="C0", label="model")
        ticks = [float(distances[0][0])] + [float(seg[-1]) for seg in distances]
        labels = [str(x) for x in details.get("band_labels", [])]
        if len(labels) == len(ticks):
            ax_band.set_xticks(ticks, labels)
            refs = _reference_frequencies(values, labels)
            first = True
            for tick, label in zip(ticks, labels, strict=True):
                for point in label.split("|"):
                    freqs = refs.get(_point_key(point), [])
                    ax_band.plot(
                        [tick] * len(freqs), freqs, "o", mfc="none", mec="k", ms=6,
                        label="reference" if first and freqs else None,
                    )  # fmt: skip
                    first = first and not freqs
        for t in ticks:
            ax_band.axvline(t, color="0.85", lw=0.6)
        ax_band.set_xlim(ticks[0], ticks[-1])
        ax_band.set_ylabel("frequency (THz)")
        ax_band.legend(fontsize=8, loc="lower right")
    if has_dos:
        ax_dos.plot(dos_g, dos_f, color="C0")
        ax_dos.set_xlabel("DOS (states/THz/atom)")
        if ax_band is None:
            ax_dos.set_ylabel("frequency (THz)")
    fig.suptitle(title or "Phonons")
    return fig


def neb_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    """NEB energy of each image relative to the initial end point (``path_energy_ev``) along the path
    (``reaction_coordinate_a``, else the image index); the saddle marked and the reference barrier dashed."""
    energies = _numbers(details.get("path_energy_ev"))
    if energies is None or len(energies) < 2:
        return None
    coordinate = _numbers(details.get("reaction_coordinate_a"))
    if coordinate is None or len(coordinate) != len(energies):
        coordinate, xlabel = np.arange(len(energies), dtype=float), "image"
    else:
        xlabel = "reaction coordinate (Å)"
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.plot(coordinate, energies, "o-", color="C0", ms=5, label="model")
    top = int(details.get("saddle_image", np.argmax(energies)))
    if 0 <= top < len(energies):
        ax.plot(coordinate[top], energies[top], "*", color="C3", ms=12, label=f"barrier {energies[top]:.3g} eV")
    reference = (values or {}).get("barrier_ev", (math.nan, math.nan))[1]
    if _finite(reference):
        ax.axhline(float(reference), color="k", ls="--", lw=1, label=f"reference {float(reference):.3g} eV")
    defect = details.get("defect")
    ax.set(
        xlabel=xlabel,
        ylabel="E − E(initial) (eV)",
        title=title or (f"{defect} migration (NEB)" if defect else "NEB energy profile"),
    )
    ax.legend(fontsize=8)
    return fig


def re_cdf_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    """CDFs of δF = ||F| − |F₀|| (eV/Å) and δθ (degrees) over the rare-event atoms, with the cut-offs of the
    fraction metrics dotted (0.5 eV/Å; 15°, 30°): from the stored lists, or from the stored force errors and the
    RE set's DFT forces (:func:`~mlipscope.properties.rare_events.re_errors_from_details`; no figure when the set
    is not found)."""
    try:
        errors = re_errors_from_details(details)
    except (InputError, OSError, ValueError, KeyError, TypeError):
        return None
    d_f, d_theta = (None, None) if errors is None else (_numbers(errors[0]), _numbers(errors[1]))
    if d_f is None or d_theta is None:
        return None
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    ax_f, ax_t = fig.subplots(1, 2)
    for ax, data, marks in ((ax_f, d_f, (_DF_MARK_EV_A,)), (ax_t, d_theta, _DTHETA_MARKS_DEG)):
        x = np.sort(data[np.isfinite(data)])
        if len(x):
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", color="C0", label=f"model ({len(x)} atoms)")
        for mark in marks:
            ax.axvline(mark, color="0.5", ls=":", lw=1)
        ax.set_ylim(0, 1.02)
    ax_f.set(xlabel="δF = ||F| − |F₀|| (eV/Å)", ylabel="CDF", xlim=(0, FORCE_CAP_EV_A))
    ax_t.set(xlabel="δθ (degrees)", xlim=(0, ANGLE_CAP_DEG))
    ax_f.legend(fontsize=8, loc="lower right")
    dataset = details.get("dataset")
    fig.suptitle(title or (f"Force errors on rare-event atoms ({dataset})" if dataset else "Force errors on RE atoms"))
    return fig


FigureFunction = Callable[[Mapping[str, Any], "Values | None", str], "Figure | None"]
PROPERTY_FIGURES: list[tuple[str, str, FigureFunction]] = [
    ("eos", "Equation of state E(V)", eos_figure),
    ("phonons", "Phonon dispersion and DOS", phonon_figure),
    ("neb", "NEB energy profile", neb_figure),
    ("re_cdf", "Rare-event force-error CDFs", re_cdf_figure),
    ("arrhenius", "MD diffusion: Arrhenius plot with standard errors and typed outcomes", arrhenius_figure),
    ("gsfe", "Generalized stacking-fault energy", gsfe_figure),
    ("dimer", "Dimer binding curves", dimer_figure),
    ("kappa", "Lattice thermal conductivity κ(T)", conductivity_figure),
    ("expansion", "Quasi-harmonic thermal expansion α(T)", expansion_figure),
    ("melting", "Melting point: energy rate of the two-phase cell", melting_figure),
    ("stability", "MD stability: NVE energy drift", stability_figure),
]


def property_figures(
    details: Mapping[str, Any] | None, values: Values | None = None, title: str = ""
) -> list[tuple[str, str, Figure]]:
    """(key, caption, figure) of every family figure the details allow (usually one; none for other families)."""
    if not details:
        return []
    out = []
    for key, caption, draw in PROPERTY_FIGURES:
        figure = draw(details, values, title)
        if figure is not None:
            out.append((key, caption, figure))
    return out
