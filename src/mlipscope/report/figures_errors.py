"""Figures of the error populations: difficulty ranking and per-type distributions.

Figures are built with the object-oriented API (``matplotlib.figure.Figure``, Agg canvas on save), so drawing
touches no pyplot global state and works without a display.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.report.labels import display_name

PER_PANEL = 20  # properties per distribution panel: more and the labels collide


def type_colors(type_names: list[str]) -> dict[str, tuple]:
    """One stable colour per MLIP type (tab10 order of the sorted names)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(sorted(type_names))}


def short_label(name: str, width: int = 32) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def difficulty_figure(results: AnalysisResults) -> Figure | None:
    """Share of models meeting each threshold, per MLIP type with its Wilson 95 % interval, hardest property at the
    top; a type with too few members is hatched and says so in the legend."""
    th = results.thresholds
    if th is None or th.difficulty.empty:
        return None
    order = list(th.difficulty["property"])[::-1]  # barh draws bottom-up: hardest last = top
    types = [t for t in th.pass_share.columns if t != "all"]
    intervals = th.share_intervals.set_index(["type", "property"])
    sizes = results.table.types.value_counts()
    colors = type_colors(types)
    height = 0.8 / max(len(types), 1)
    fig = Figure(figsize=(8.0, 1.2 + 0.28 * len(order) * max(1, len(types)) ** 0.5))
    ax = fig.add_subplot()
    y = np.arange(len(order))
    for i, name in enumerate(types):
        share = th.pass_share.loc[order, name].to_numpy(dtype=float)
        few = int(sizes.get(name, 0)) < results.config.min_type_members
        error = _interval_error(intervals, name, order, share)
        label = f"{name} (n={int(sizes.get(name, 0))}{', too few members' if few else ''})"
        ax.barh(
            y + (i - (len(types) - 1) / 2) * height,
            share,
            height,
            xerr=error,
            error_kw={"elinewidth": 0.6, "capsize": 0, "ecolor": "0.3"},
            label=label,
            color=colors[name],
            hatch="//" if few else None,
            alpha=0.5 if few else 1.0,
        )
    ax.plot(th.pass_share.loc[order, "all"], y, "k|", markersize=10, label=f"all models (n={len(results.table.types)})")
    ax.set_yticks(y, [short_label(display_name(n), 40) for n in order], fontsize=7)
    ax.set_xlabel("share of models meeting the threshold (bars: Wilson 95 % interval)")
    ax.set_xlim(0, 1)
    ax.set_title("Property difficulty (hardest at the top)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def _interval_error(intervals, name: str, order: list[str], share: np.ndarray) -> np.ndarray | None:
    """2 x n distances from each share to its interval's ends (None when the intervals are missing)."""
    keys = [(name, p) for p in order]
    if not all(k in intervals.index for k in keys):
        return None
    rows = intervals.loc[keys]
    low = np.clip(share - rows["ci_low"].to_numpy(dtype=float), 0, None)
    high = np.clip(rows["ci_high"].to_numpy(dtype=float) - share, 0, None)
    return np.vstack([low, high])


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
        labels = [short_label(display_name(p), 32) for p in panel]
        ax.set_xticks(range(len(panel)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"{dist.transform} error")
        ax.grid(axis="y", alpha=0.3)
    handles = [axes[0].fill_between([], [], color=colors[t], alpha=0.6, label=t) for t in types]
    axes[0].legend(handles=handles, fontsize=7, ncol=len(types), loc="upper right")
    axes[0].set_title(f"Error distributions per property and MLIP type ({dist.transform})")
    fig.tight_layout()
    return fig
