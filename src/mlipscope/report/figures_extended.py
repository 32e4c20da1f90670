"""Per-model figures of the extended property families, from the ``details`` their evaluations store (same
contract as :mod:`mlipscope.report.figures_properties`: details, values, title -> Figure or None):

- :func:`gsfe_figure`: generalized stacking-fault curves (:mod:`mlipscope.properties.stacking_faults`);
- :func:`dimer_figure`: binding curves of the element pairs (:mod:`mlipscope.properties.dimer`);
- :func:`conductivity_figure`: κ(T) (:mod:`mlipscope.properties.thermal_conductivity`);
- :func:`expansion_figure`: the linear expansion coefficient α(T) (:mod:`mlipscope.properties.thermal_expansion`);
- :func:`melting_figure`: the energy rate of the two-phase cell vs temperature (:mod:`mlipscope.properties.melting`);
- :func:`stability_figure`: the NVE total energy (:mod:`mlipscope.properties.md_stability`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

Values = Mapping[str, tuple[float, float]]


def _array(seq: Any) -> np.ndarray | None:
    try:
        arr = np.asarray(seq, dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.size > 0 else None


def _reference(values: Values | None, key: str) -> float:
    ref = (values or {}).get(key, (math.nan, math.nan))[1]
    return float(ref) if ref is not None and math.isfinite(float(ref)) else math.nan


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    return fig, fig.subplots()


def gsfe_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    curves = details.get("curves")
    if not isinstance(curves, Mapping) or not all(
        isinstance(c, Mapping) and "gamma_j_m2" in c for c in curves.values()
    ):
        return None
    fig, ax = _figure()
    for i, (system, curve) in enumerate(curves.items()):
        x, y = _array(curve.get("fraction")), _array(curve.get("gamma_j_m2"))
        if x is None or y is None or x.size != y.size:
            return None
        ax.plot(x, y, "o-", ms=4, color=f"C{i}", label=f"{system} (model)")
    for key, style in (("isf_j_m2", "--"), ("glide_usf_j_m2", ":"), ("shuffle_usf_j_m2", "-."), ("usf_j_m2", ":")):
        ref = _reference(values, key)
        if math.isfinite(ref):
            ax.axhline(ref, ls=style, color="0.4", lw=1, label=f"reference {key.removesuffix('_j_m2')} {ref:.3g}")
    ax.set(xlabel="displacement along the path (fraction)", ylabel="γ (J/m²)",
           title=title or "Generalized stacking-fault energy")  # fmt: skip
    ax.legend(fontsize=7)
    return fig


def dimer_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    curves = details.get("curves")
    if not isinstance(curves, Mapping) or not all(isinstance(c, Mapping) and "energy_ev" in c for c in curves.values()):
        return None
    fig, ax = _figure()
    lowest = 0.0
    for i, (pair, curve) in enumerate(curves.items()):
        r, e = _array(curve.get("r_a")), _array(curve.get("energy_ev"))
        if r is None or e is None or r.size != e.size:
            return None
        ax.plot(r, e, "-", color=f"C{i}", label=pair)
        lowest = min(lowest, float(np.nanmin(e)))
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set_ylim(1.3 * lowest - 0.5, max(3.0, -2.0 * lowest))  # the well and the start of the wall, not its top
    ax.set(xlabel="distance r (Å)", ylabel="binding energy E(r) − E(atoms) (eV)", title=title or "Dimer curves")
    ax.legend(fontsize=8)
    return fig


def conductivity_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    t, kappa = _array(details.get("temperature_k")), _array(details.get("kappa_w_mk"))
    if t is None or kappa is None or kappa.ndim != 2 or kappa.shape[0] != t.size:
        return None
    fig, ax = _figure()
    ax.plot(t, kappa[:, :3].mean(axis=1), "o-", label=f"model ({details.get('method', 'RTA')})")
    ax.set(xlabel="temperature (K)", ylabel="κ (W/(m·K))", title=title or "Lattice thermal conductivity",
           xscale="log", yscale="log")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


def expansion_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    t, alpha = _array(details.get("temperature_k")), _array(details.get("alpha_ppm_k"))
    if t is None or alpha is None or t.size != alpha.size or "volume_a3" not in details:
        return None
    fig, ax = _figure()
    ax.plot(t, alpha, "-", label="model (QHA)")
    ref = _reference(values, "alpha_300k_ppm_k")
    if math.isfinite(ref):
        ax.plot([300.0], [ref], "*", color="C3", ms=11, label=f"reference at 300 K ({ref:.3g})")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ax.set(xlabel="temperature (K)", ylabel="linear expansion α (10⁻⁶/K)", title=title or "Thermal expansion")
    ax.legend(fontsize=8)
    return fig


def melting_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    t, rate = _array(details.get("temperature_k")), _array(details.get("energy_rate_mev_atom_ps"))
    if t is None or rate is None or t.size != rate.size or "energies_ev_atom" not in details:
        return None
    fig, ax = _figure()
    ax.plot(t, rate, "o", label="two-phase cell (NPT)")
    slope, intercept = np.polyfit(t, rate, 1)
    ax.plot(t, slope * t + intercept, "-", color="C0", lw=1, label="straight-line fit")
    ax.axhline(0.0, color="0.6", lw=0.8)
    ref = _reference(values, "melting_point_k")
    if math.isfinite(ref):
        ax.axvline(ref, ls="--", color="C3", label=f"reference melting point {ref:.0f} K")
    ax.set(xlabel="temperature (K)", ylabel="potential energy rate (meV/atom/ps)",
           title=title or "Melting point (interface method)")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


def stability_figure(details: Mapping[str, Any], values: Values | None = None, title: str = "") -> Figure | None:
    curve = details.get("nve_curve")
    if not isinstance(curve, Mapping):
        return None
    t, e = _array(curve.get("time_ps")), _array(curve.get("total_energy_ev_atom"))
    if t is None or e is None or t.size != e.size or t.size < 2:
        return None
    fig, ax = _figure()
    ax.plot(t, (e - e[0]) * 1000.0, "-", label="total energy (NVE)")
    ax.set(xlabel="time (ps)", ylabel="E − E(0) (meV/atom)", title=title or "MD stability: NVE energy drift")
    ax.legend(fontsize=8)
    return fig
