"""Figures of the uncertainty section: error-based calibration curves (RMS error vs RMS spread per bin of spread,
log-log, with the diagonal a calibrated spread follows) per dataset and group, and the per-property spread vs
|error of the ensemble mean| in units of each value's acceptable error."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

PANELS = {"energy_per_atom": ("energy per atom", "eV/atom"), "force_component": ("force component", "eV/Å")}


def _diagonal(ax, values: np.ndarray, label: str = "calibrated (RMSE = RMV)") -> None:
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size:
        low, high = positive.min() / 1.5, positive.max() * 1.5
        ax.plot([low, high], [low, high], "k--", lw=0.8, label=label)


def calibration_figure(curves: Mapping[tuple[str, str], pd.DataFrame], title: str = "") -> Figure | None:
    """``curves``: (group, quantity) -> :func:`~mlipscope.analysis.calibration.calibration_curve`; one panel per
    quantity (energy per atom, force component), one line per group. None when nothing is positive to plot."""
    quantities = [q for q in PANELS if any(k[1] == q for k in curves)]
    if not quantities:
        return None
    fig = Figure(figsize=(5.0 * len(quantities), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(quantities)))
    drawn = False
    for ax, quantity in zip(axes, quantities, strict=True):
        name, unit = PANELS[quantity]
        points = []
        for (group, q), curve in curves.items():
            keep = curve[(curve["rmv"] > 0) & (curve["rmse"] > 0)] if q == quantity else curve.iloc[:0]
            if keep.empty:
                continue
            n = int(keep["n"].sum())
            ax.plot(keep["rmv"], keep["rmse"], "o-", ms=4, label=f"{group} ({n} points)")
            points.append(keep[["rmv", "rmse"]].to_numpy().ravel())
            drawn = True
        if points:
            _diagonal(ax, np.concatenate(points))
        ax.set(xscale="log", yscale="log", title=name)
        ax.set_xlabel(f"RMS spread of the members per bin, RMV ({unit})")
        ax.set_ylabel(f"RMS error of the ensemble mean ({unit})")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(f"{title}: calibration (points above the diagonal: spread too small)")
    return fig if drawn else None


def property_spread_figure(spreads: pd.DataFrame) -> Figure | None:
    """Per value of group ``all`` with an acceptable error: spread vs |error of the mean|, both in acceptable
    errors; the lines |error| = spread and |error| = 2·spread (below the latter: covered at k = 2)."""
    if spreads is None or spreads.empty:
        return None
    rows = spreads[(spreads["group"] == "all") & (spreads["threshold"] > 0)]
    x = (rows["spread"] / rows["threshold"]).to_numpy(dtype=float)
    y = (rows["mean_error"].abs() / rows["threshold"]).to_numpy(dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 2:
        return None
    fig = Figure(figsize=(5.6, 4.6), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(x[keep], y[keep], s=18, alpha=0.8, label=f"{int(keep.sum())} property values")
    span = np.array([min(x[keep].min(), y[keep].min()) / 1.5, max(x[keep].max(), y[keep].max()) * 1.5])
    ax.plot(span, span, "k--", lw=0.8, label="|error| = spread")
    ax.plot(span, 2 * span, "k:", lw=0.8, label="|error| = 2·spread (k = 2 bound)")
    worst = np.argsort(-(y[keep] / x[keep]))[:3]  # name the worst-covered values
    for i in worst:
        ax.annotate(str(rows["value"].to_numpy()[keep][i]), (x[keep][i], y[keep][i]), fontsize=7)
    ax.set(xscale="log", yscale="log")
    ax.set_xlabel("members' spread (units of the acceptable error)")
    ax.set_ylabel("|ensemble mean − reference| (units of the acceptable error)")
    ax.set_title("Per-property spread vs error of the mean")
    ax.legend(fontsize=8)
    return fig
