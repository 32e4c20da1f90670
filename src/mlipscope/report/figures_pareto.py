"""Pareto figures: the 2-D front, Pareto-optimal count vs number of properties (with the null model), front quality."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.report.figures_errors import type_colors
from mlipscope.report.labels import error_label


def pareto_front_figure(results: AnalysisResults) -> Figure | None:
    """Models in the first two objectives (log-log), coloured by type; the 2-D front drawn as a staircase."""
    pareto = results.pareto
    if pareto is None:
        return None
    x_name, y_name = pareto.objectives[:2]
    index = pareto.optimal_2d.index
    data = results.table.errors.loc[index, [x_name, y_name]].abs()
    types = results.table.types.loc[index]
    colors = type_colors(list(types.unique()))
    fig = Figure(figsize=(6.4, 5.0))
    ax = fig.add_subplot()
    for name in sorted(types.unique()):
        part = data[types == name]
        ax.scatter(part[x_name], part[y_name], s=8, alpha=0.5, color=colors[name], label=name, linewidths=0)
    front = data[pareto.optimal_2d].sort_values(x_name)
    ax.step(front[x_name], front[y_name], where="post", color="k", lw=1.2, label="Pareto front")
    ax.scatter(front[x_name], front[y_name], s=30, facecolors="none", edgecolors="k")
    positive = (data > 0).all(axis=1)
    if positive.all():
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(error_label(x_name))
    ax.set_ylabel(error_label(y_name))
    ax.set_title("Pareto front in the first two objectives")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pareto_count_figure(results: AnalysisResults) -> Figure | None:
    """Number of Pareto-optimal models vs number of properties, observed and for random null models."""
    pareto = results.pareto
    if pareto is None or pareto.count_vs_k.empty:
        return None
    counts = pareto.count_vs_k
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    ax.errorbar(
        counts["k"],
        counts["observed"],
        yerr=counts["observed_std"],
        fmt="o-",
        color="k",
        label="observed (random property subsets)",
    )
    for column in [c for c in counts.columns if c.startswith("null_rho_")]:
        rho = column.removeprefix("null_rho_")
        ax.plot(counts["k"], counts[column], "s--", ms=4, label=f"null: Gaussian, ρ = {rho}")
    ax.plot(counts["k"], counts["independent_expected"], ":", color="grey", label="independent (exact expectation)")
    n_models = len(pareto.optimal)
    ax.axhline(n_models, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("number of properties k")
    ax.set_ylabel("Pareto-optimal models")
    ax.set_title(f"Pareto-optimal models vs properties ({n_models} models)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def front_quality_figure(results: AnalysisResults) -> Figure | None:
    """Hypervolume (higher is better) and IGD to the global front (lower is better) per MLIP type with enough
    members, on equal-size samples (median and 95 % interval); without such types, the full-sample values,
    titled as not comparable."""
    pareto = results.pareto
    if pareto is None or pareto.quality.empty:
        return None
    quality = pareto.quality
    compared = quality[~quality["too_few_members"] & quality["hv_median"].notna()]
    fig = Figure(figsize=(7.5, 3.6))
    ax_hv, ax_igd = fig.subplots(1, 2)
    if compared.empty:
        shown, hv, igd, hv_err, igd_err = quality, quality["hypervolume"], quality["igd"], None, None
        note = "all members (types not comparable: none has enough members)"
    else:
        shown, hv, igd = compared, compared["hv_median"], compared["igd_median"]
        hv_err = _errors(compared, "hv")
        igd_err = _errors(compared, "igd")
        size = int(compared["subsample_size"].iloc[0])
        few = ", ".join(quality.loc[quality["too_few_members"], "type"])
        note = f"equal-size samples of {size} members, median and 95 % interval" + (
            f"; too few members: {few}" if few else ""
        )
    colors = type_colors(list(quality["type"]))
    bar_colors = [colors[t] for t in shown["type"]]
    ax_hv.bar(shown["type"], hv, yerr=hv_err, color=bar_colors, capsize=3)
    ax_hv.set_title(f"hypervolume ({pareto.hv_method})", fontsize=9)
    ax_igd.bar(shown["type"], igd.fillna(np.nan), yerr=igd_err, color=bar_colors, capsize=3)
    ax_igd.set_title("IGD to the global front", fontsize=9)
    for ax in (ax_hv, ax_igd):
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.suptitle(
        f"Front quality in {len(pareto.objectives)} objectives (log errors scaled to [0, 1])\n{note}", fontsize=9
    )
    fig.tight_layout()
    return fig


def _errors(frame, prefix: str) -> np.ndarray:
    """2 x n distances from the medians to the interval ends."""
    median = frame[f"{prefix}_median"].to_numpy(dtype=float)
    low = np.clip(median - frame[f"{prefix}_ci_low"].to_numpy(dtype=float), 0, None)
    high = np.clip(frame[f"{prefix}_ci_high"].to_numpy(dtype=float) - median, 0, None)
    return np.vstack([low, high])
