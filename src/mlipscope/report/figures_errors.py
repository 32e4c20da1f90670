"""Figures of the error populations: difficulty ranking and per-type distributions.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``, Agg canvas on save), so drawing
touches no pyplot global state and works without a display.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlipscope.analysis.pipeline import AnalysisResults

PER_PANEL = 20  # properties per distribution panel: more and the labels collide


def type_colors(type_names: list[str]) -> dict[str, tuple]:
    """One stable colour per MLIP type (tab10 order of the sorted names)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(sorted(type_names))}


def short_label(name: str, width: int = 32) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def difficulty_figure(results: AnalysisResults) -> Figure | None:
    """Share of models meeting each threshold, per MLIP type, hardest property at the top."""
    th = results.thresholds
    if th is None or th.difficulty.empty:
        return None
    order = list(th.difficulty["property"])[::-1]  # barh draws bottom-up: hardest last = top
    types = [t for t in th.pass_share.columns if t != "all"]
    colors = type_colors(types)
    height = 0.8 / max(len(types), 1)
    fig = Figure(figsize=(8.0, 1.2 + 0.28 * len(order) * max(1, len(types)) ** 0.5))
    ax = fig.add_subplot()
    y = np.arange(len(order))
    for i, name in enumerate(types):
        ax.barh(
            y + (i - (len(types) - 1) / 2) * height,
            th.pass_share.loc[order, name],
            height,
            label=name,
            color=colors[name],
        )
    ax.plot(th.pass_share.loc[order, "all"], y, "k|", markersize=10, label="all models")
    ax.set_yticks(y, [short_label(n) for n in order], fontsize=7)
    ax.set_xlabel("share of models meeting the threshold")
    ax.set_xlim(0, 1)
    ax.set_title("Property difficulty (hardest at the top)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def distribution_figure(results: AnalysisResults) -> Figure | None:
    """Violin plot of every property's transformed error, one violin per MLIP type, in panels of 20 properties."""
    dist = results.distributions
    if dist is None or dist.values.empty:
        return None
    names = list(dist.values.columns)
    types = sorted(dist.types.unique())
    colors = type_colors(types)
    panels = [names[i : i + PER_PANEL] for i in range(0, len(names), PER_PANEL)]
    width = max(6.0, 0.45 * min(len(names), PER_PANEL) * max(1, len(types)) ** 0.5 + 2)
    fig = Figure(figsize=(width, 3.2 * len(panels) + 0.6))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    step = 0.8 / len(types)
    for ax, panel in zip(axes, panels, strict=True):
        for i, name in enumerate(types):
            data, positions = [], []
            for j, prop in enumerate(panel):
                values = dist.values.loc[dist.types == name, prop].dropna().to_numpy()
                if len(values) >= 2 and np.ptp(values) > 0:
                    data.append(values)
                    positions.append(j + (i - (len(types) - 1) / 2) * step)
            if data:
                parts = ax.violinplot(
                    data, positions=positions, widths=step * 0.95, showmedians=True, showextrema=False
                )
                for body in parts["bodies"]:
                    body.set_facecolor(colors[name])
                    body.set_alpha(0.6)
                parts["cmedians"].set_color("k")
        ax.set_xticks(range(len(panel)), [short_label(p, 24) for p in panel], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"{dist.transform} error")
        ax.grid(axis="y", alpha=0.3)
    handles = [axes[0].fill_between([], [], color=colors[t], alpha=0.6, label=t) for t in types]
    axes[0].legend(handles=handles, fontsize=7, ncol=len(types), loc="upper right")
    axes[0].set_title(f"Error distributions per property and MLIP type ({dist.transform})")
    fig.tight_layout()
    return fig
