"""Figures of the dynamics stage: Arrhenius plots of MD diffusivities (one model or a model set) and Kaplan–Meier
survival curves of MD runs per selection group."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from ase import units
from matplotlib.figure import Figure

from mlipscope.analysis.survival import failure_rate, survival_curve
from mlipscope.properties.md import MDRun


def _points(details: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T in K, D, SE(D)) of the temperatures whose outcome is ok."""
    rows = [p for p in details.get("per_temperature", []) if p.get("outcome") == "ok"]
    t = np.array([p["temperature_k"] for p in rows], dtype=float)
    d = np.array([p["diffusivity_cm2_s"] for p in rows], dtype=float)
    se = np.array([p["diffusivity_stderr_cm2_s"] for p in rows], dtype=float)
    return t, d, se


def _draw_model(ax, details: Mapping[str, Any], label: str, color=None) -> None:
    t, d, se = _points(details)
    if len(t):
        line = ax.errorbar(1000.0 / t, d, yerr=se, fmt="o", capsize=3, color=color, label=label)
        color = line[0].get_color()
    fit = details.get("arrhenius") or {}
    if fit and len(t) >= 2 and math.isfinite(fit.get("activation_energy_ev", math.nan)):
        x = np.linspace(t.min(), t.max(), 20)
        y = 10 ** fit["log10_prefactor_cm2_s"] * np.exp(-fit["activation_energy_ev"] / (units.kB * x))
        ax.plot(1000.0 / x, y, "-", color=color, lw=1)
    for p in details.get("per_temperature", []):  # failed temperatures: a cross on the axis, named in the legend
        if p.get("outcome") != "ok":
            ax.plot([1000.0 / p["temperature_k"]], [np.nan], "x", color=color)


def _reference_slope(ax, reference_ea_ev: float | None, anchor: tuple[float, float] | None) -> None:
    """A dashed line with the reference activation energy's slope through ``anchor`` (T in K, D): only the slope
    is known from the literature, not D itself."""
    if reference_ea_ev is None or anchor is None or not all(map(math.isfinite, anchor)):
        return
    t0, d0 = anchor
    x = np.array([0.9 * t0, 1.1 * t0])
    y = d0 * np.exp(-reference_ea_ev / units.kB * (1.0 / x - 1.0 / t0))
    ax.plot(1000.0 / x, y, "k--", lw=1, label=f"reference slope, Ea = {reference_ea_ev:.2f} eV")


def arrhenius_figure(
    details: Mapping[str, Any], values: Mapping[str, float] | None = None, title: str = ""
) -> Figure | None:
    """One model's diffusivities with standard errors, its Arrhenius fit and typed outcomes."""
    if "per_temperature" not in details or "md_runs" not in details:
        return None
    fig = Figure(figsize=(5.2, 3.8), layout="constrained")
    ax = fig.add_subplot()
    fit = details.get("arrhenius") or {}
    ea = fit.get("activation_energy_ev")
    label = f"MD, Ea = {ea:.2f} ± {fit.get('activation_energy_stderr_ev', math.nan):.2f} eV" if ea else "MD"
    _draw_model(ax, details, label)
    neb = (details.get("neb_check") or {}).get("neb_barrier_ev")
    t, d, _ = _points(details)
    if neb and len(t):
        mid = len(t) // 2
        x = np.array([t.min(), t.max()])
        ax.plot(1000.0 / x, d[mid] * np.exp(-neb / units.kB * (1.0 / x - 1.0 / t[mid])), ":", color="gray",
                label=f"own NEB barrier slope, {neb:.2f} eV")  # fmt: skip
    outcomes = details.get("outcomes", {})
    failed = ", ".join(f"{k} K: {v}" for k, v in outcomes.items() if v != "ok")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    ax.set_title((title + "\n" if title else "") + (f"failed: {failed}" if failed else ""), fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return fig


def arrhenius_set_figure(
    details_by_model: Mapping[str, Mapping[str, Any]],
    group_of: Mapping[str, str],
    reference_ea_ev: float | None = None,
    title: str = "",
) -> Figure | None:
    """Every model of the dynamics stage in one Arrhenius plot, coloured by selection group, with the reference
    activation energy as a slope."""
    if not details_by_model:
        return None
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    colors = {g: f"C{i}" for i, g in enumerate(dict.fromkeys(group_of.values()))}
    anchors = []
    seen: set[str] = set()
    for model_id, details in details_by_model.items():
        group = group_of.get(model_id, "other")
        label = group if group not in seen else None
        seen.add(group)
        _draw_model(ax, details, label, color=colors.get(group, "gray"))
        t, d, _ = _points(details)
        if len(t):
            anchors.append((float(np.median(t)), float(np.median(d))))
    if anchors:
        _reference_slope(ax, reference_ea_ev, (np.median([a[0] for a in anchors]), np.median([a[1] for a in anchors])))
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D (cm²/s)")
    ax.set_title(title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return fig


def survival_figure(runs_by_group: Mapping[str, Sequence[MDRun]], title: str = "") -> Figure | None:
    """Kaplan–Meier survival of the MD runs of each group, with the failure rate per atom·ps in the legend."""
    groups = {g: list(r) for g, r in runs_by_group.items() if r}
    if not groups:
        return None
    fig = Figure(figsize=(5.6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for group, runs in groups.items():
        curve = survival_curve(runs)
        rate = failure_rate(runs)
        ax.step(curve.times_ps, curve.survival, where="post",
                label=f"{group}: {rate.events} failures in {len(runs)} runs, "
                      f"{rate.rate_per_atom_ps:.2g} per atom·ps")  # fmt: skip
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("fraction of MD runs surviving")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig
