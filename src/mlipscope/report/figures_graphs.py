"""Figures of the property graphs (correlation, prediction) and of the clusters of optimal models."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.report.figures_errors import short_label
from mlipscope.report.labels import display_name, wrap_label

NODE_LABEL_WIDTH = 14  # characters per line of a node's label: a readable name wraps over two or three lines
TOP_LABELLED = 15  # prediction graph: the highest-PageRank nodes get bold labels


def node_labels(names: Iterable[str], width: int = NODE_LABEL_WIDTH) -> dict[str, str]:
    """Value name -> its readable name (:func:`mlipscope.report.labels.display_name`) wrapped for a graph node."""
    return {n: wrap_label(display_name(n), width) for n in names}


def graph_side_in(n_nodes: int) -> float:
    """Side of a graph figure (inches): 9 up to 20 nodes, growing to 16 at 80, so ~60 labels keep apart."""
    return float(np.clip(9.0 + 7.0 * (n_nodes - 20) / 60.0, 9.0, 16.0))


def label_font_size(n_nodes: int) -> float:
    """Node-label font size: smaller for more nodes (7 up to 20, 6 up to 40, then 5)."""
    return 7.0 if n_nodes <= 20 else 6.0 if n_nodes <= 40 else 5.0


def _draw_labels(
    ax, graph: nx.Graph, layout: dict, labels: dict[str, str], size: float, color: str = "k", weight: str = "normal"
) -> None:
    """Labels under their nodes (not on them: the node stays visible), on a faint white box over the edges."""
    shifted = {n: layout[n] - np.array([0.0, 0.025]) for n in labels}
    nx.draw_networkx_labels(
        graph,
        shifted,
        labels=labels,
        ax=ax,
        font_size=size,
        font_color=color,
        font_weight=weight,
        verticalalignment="top",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 0.3},
    )


def component_layout(graph: nx.Graph, seed: int) -> dict:
    """Spring layout per connected component, components on a grid (largest first), so clusters stay readable:
    a single spring layout pushes components to the corners and crushes each into a blob."""
    undirected = graph.to_undirected() if graph.is_directed() else graph
    components = sorted(nx.connected_components(undirected), key=lambda c: (-len(c), min(c)))
    big = [c for c in components if len(c) > 1]
    singles = sorted(n for c in components if len(c) == 1 for n in c)
    cells = len(big) + int(np.ceil(len(singles) / 9))
    columns = max(1, int(np.ceil(np.sqrt(cells))))
    layout: dict = {}
    for i, component in enumerate(big):
        centre = np.array([i % columns, -(i // columns)], dtype=float)
        # nodes in sorted order: a subgraph view iterates the component set, whose order changes with the string
        # hash seed of the process, and the seeded layout depends on the node order
        ordered = nx.Graph()
        ordered.add_nodes_from(sorted(component))
        ordered.add_edges_from(undirected.subgraph(component).edges(data=True))
        sub = nx.spring_layout(ordered, seed=seed, center=(0, 0), scale=0.42)
        layout.update({n: centre + xy for n, xy in sub.items()})
    for j, node in enumerate(singles):
        cell = len(big) + j // 9
        centre = np.array([cell % columns, -(cell // columns)], dtype=float)
        layout[node] = centre + (np.array([j % 3, (j // 3) % 3]) - 1.0) * 0.3
    return layout


def correlation_heatmap_figure(results: AnalysisResults) -> Figure | None:
    """Correlation matrix of transformed errors, properties ordered by connected component."""
    corr = results.correlation
    if corr is None:
        return None
    order = [name for component in corr.components for name in component]
    matrix = (corr.pearson if corr.method == "pearson" else corr.spearman).loc[order, order]
    size = min(14.0, 3.0 + 0.17 * len(order))
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    labels = [short_label(display_name(n), 44) for n in order]
    font = 7 if len(order) <= 40 else 5
    ax.set_xticks(range(len(order)), labels, rotation=90, fontsize=font)
    ax.set_yticks(range(len(order)), labels, fontsize=font)
    fig.colorbar(image, ax=ax, shrink=0.7, label=f"{corr.method} r")
    ax.set_title(f"{corr.method.capitalize()} correlation of {results.config.transform} errors")
    fig.tight_layout()
    return fig


def correlation_graph_figure(results: AnalysisResults) -> Figure | None:
    """Edges where r² > threshold (darker = more bootstrap-confident), components coloured, representatives ringed."""
    corr = results.correlation
    if corr is None:
        return None
    graph = corr.graph
    layout = component_layout(graph, results.config.seed)
    component_of = {n: i for i, comp in enumerate(corr.components) for n in comp}
    cmap = colormaps["tab20"]
    side = graph_side_in(graph.number_of_nodes())
    fig = Figure(figsize=(side, 0.85 * side))
    ax = fig.add_subplot()
    confidences = [graph.edges[e]["confidence"] for e in graph.edges]
    edge_alpha = [0.15 + 0.7 * (c if np.isfinite(c) else 1.0) for c in confidences]
    nx.draw_networkx_edges(graph, layout, ax=ax, alpha=edge_alpha, width=1.0)
    nodes = list(graph.nodes)
    nx.draw_networkx_nodes(
        graph, layout, nodelist=nodes, ax=ax, node_size=110, node_color=[cmap(component_of[n] % 20) for n in nodes]
    )
    nx.draw_networkx_nodes(
        graph,
        layout,
        nodelist=corr.representatives,
        ax=ax,
        node_size=260,
        node_color="none",
        edgecolors="k",
        linewidths=1.6,
    )
    _draw_labels(ax, graph, layout, node_labels(nodes), label_font_size(len(nodes)))
    ax.set_title(
        f"Correlation graph (r² > {corr.r2_threshold}); ringed: representative properties "
        f"({len(corr.representatives)})",
        fontsize=10,
    )
    ax.axis("off")
    fig.tight_layout()
    return fig


def prediction_figure(results: AnalysisResults) -> Figure | None:
    """Left: test R² per property (Lasso on the others). Right: the prediction graph, node size by PageRank."""
    pred = results.prediction
    if pred is None or pred.r2.empty:
        return None
    r2 = pred.r2.sort_values("r2_mean")
    side = graph_side_in(pred.graph.number_of_nodes())
    fig = Figure(figsize=(side + 5.0, max(0.75 * side, 0.16 * len(r2) + 1.5)))
    ax_r2, ax_graph = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    y = np.arange(len(r2))
    ax_r2.barh(y, r2["r2_mean"], xerr=r2["r2_std"], color="tab:blue")
    ax_r2.axvline(pred.settings.r2_threshold, color="k", ls="--", lw=1)
    ax_r2.set_yticks(y, [short_label(display_name(n), 52) for n in r2.index], fontsize=6 if len(r2) > 30 else 8)
    ax_r2.set_xlabel("test R² (mean ± sd over splits)")
    ax_r2.set_xlim(min(0.0, float(r2["r2_mean"].min())), 1.0)
    graph = pred.graph
    ranks = pred.ranking.set_index("property")["pagerank"]
    layout = component_layout(graph, results.config.seed)
    sizes = [40 + 3000 * float(ranks.get(n, 0.0)) for n in graph.nodes]
    # Mutual edges (each predicts the other) as plain lines, one-way edges as arrows: arrows cost a Bezier clip
    # each in matplotlib, and in dense groups almost every edge is mutual.
    mutual = [(u, v) for u, v in graph.edges if u < v and graph.has_edge(v, u)]
    one_way = [(u, v) for u, v in graph.edges if not graph.has_edge(v, u)]
    nx.draw_networkx_edges(
        graph.to_undirected(), layout, edgelist=mutual, ax=ax_graph, alpha=0.25, width=0.7, arrows=False
    )
    if one_way:
        nx.draw_networkx_edges(
            graph,
            layout,
            edgelist=one_way,
            ax=ax_graph,
            alpha=0.5,
            arrowsize=8,
            width=0.9,
            node_size=sizes,
            edge_color="tab:red",
        )
    nx.draw_networkx_nodes(graph, layout, ax=ax_graph, node_size=sizes, node_color="tab:orange")
    top = [n for n in pred.ranking["property"][:TOP_LABELLED] if n in graph]
    others = [n for n in graph.nodes if n not in top]
    font = label_font_size(graph.number_of_nodes())
    _draw_labels(ax_graph, graph, layout, node_labels(others), font, color="0.3")
    _draw_labels(ax_graph, graph, layout, node_labels(top), font, weight="bold")
    ax_graph.set_title(
        f"Prediction graph (|coef| ≥ {pred.settings.coef_threshold}, target R² ≥ "
        f"{pred.settings.r2_threshold}); red arrows: one-way, grey: mutual; size: PageRank (reversed graph); "
        f"bold labels: the top {TOP_LABELLED}",
        fontsize=9,
    )
    ax_graph.axis("off")
    fig.tight_layout()
    return fig


def cluster_figure(results: AnalysisResults) -> Figure | None:
    """Pareto-optimal models projected on the first two principal components of their errors, by community."""
    clusters = results.clustering
    if clusters is None:
        return None
    values = results.canonical_values.loc[clusters.labels.index].dropna(axis=1)
    if values.shape[1] < 2:
        return None
    points = PCA(n_components=2, random_state=results.config.seed).fit_transform(values.to_numpy())
    fig = Figure(figsize=(6.4, 5.0))
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for community in sorted(clusters.labels.unique()):
        mask = (clusters.labels == community).to_numpy()
        ax.scatter(
            points[mask, 0],
            points[mask, 1],
            s=18,
            color=cmap(community % 10),
            label=f"community {community} ({mask.sum()})",
        )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"Louvain communities of Pareto-optimal models (modularity {clusters.modularity:.2f})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
