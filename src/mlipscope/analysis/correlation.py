"""Correlation graph of property errors across models, its components and representative properties.

Correlations are pairwise-complete (pandas): a model with a failed evaluation still counts for the other pairs.
An edge joins two properties whose r² exceeds the threshold. Representatives follow the greedy PageRank rule: take
the node with the highest PageRank (recomputed on what is left, weight r²), drop it and its neighbours, repeat until
no node is left; isolated nodes are therefore always representative.

Edge confidence: the share of bootstrap resamples of the models in which the pair's r² still exceeds the threshold.
A resample is a vector of multiplicities w, so every weighted pairwise-complete correlation matrix is a few matrix
products (:func:`weighted_correlation`), not a loop over pairs. Spearman bootstraps reuse the ranks of the full
sample (re-ranking each resample would cost a sort per column and moves the share little).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CorrelationResult:
    method: str
    pearson: pd.DataFrame
    spearman: pd.DataFrame
    r2_threshold: float
    graph: nx.Graph  # edge attributes: r, r2, confidence
    edges: pd.DataFrame  # source, target, r, r2, confidence, confident (confidence >= edge_confidence)
    components: list[list[str]]  # largest first
    pagerank: pd.Series
    representatives: list[str]  # in the order the greedy rule picked them
    mean_offdiagonal_r: float
    n_bootstrap: int


def weighted_correlation(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix with model multiplicities ``weights``, pairwise-complete over NaN."""
    present = ~np.isnan(values)
    x = np.where(present, values, 0.0)
    m = present.astype(float)
    wx, wm = x * weights[:, None], m * weights[:, None]
    n = m.T @ wm  # n[i, j]: weight of models with both i and j
    s = wx.T @ m  # s[i, j]: weighted sum of x_i over models with both
    q = (wx * x).T @ m  # q[i, j]: weighted sum of x_i² over models with both
    p = wx.T @ x  # p[i, j]: weighted sum of x_i x_j
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = n * p - s * s.T
        var = (n * q - s * s) * (n * q - s * s).T
        r = cov / np.sqrt(var)
    r[n < 3] = np.nan
    return np.clip(r, -1.0, 1.0)


def bootstrap_edge_confidence(
    values: np.ndarray, r2_threshold: float, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """Share of bootstrap resamples with r² > threshold, per pair (p x p)."""
    n_models, p = values.shape
    if n_bootstrap == 0 or n_models < 3:
        return np.full((p, p), np.nan)
    hits = np.zeros((p, p))
    all_weights = rng.multinomial(n_models, np.full(n_models, 1.0 / n_models), size=n_bootstrap).astype(float)
    for weights in all_weights:
        r = weighted_correlation(values, weights)
        hits += np.nan_to_num(r**2) > r2_threshold
    return hits / n_bootstrap


def greedy_pagerank_representatives(graph: nx.Graph) -> tuple[list[str], pd.Series]:
    """Representatives by the greedy PageRank rule, and the PageRank of the full graph."""
    full = nx.pagerank(graph, weight="r2") if graph.number_of_nodes() else {}
    remaining = graph.copy()
    chosen: list[str] = []
    while remaining.number_of_nodes():
        scores = nx.pagerank(remaining, weight="r2")
        top = max(sorted(scores), key=scores.__getitem__)  # sorted first: ties go to the first name
        chosen.append(top)
        remaining.remove_nodes_from([top, *remaining.neighbors(top)])
    return chosen, pd.Series(full, name="pagerank").sort_values(ascending=False)


def correlation_graph(
    values: pd.DataFrame,
    *,
    method: str = "pearson",
    r2_threshold: float = 0.6,
    n_bootstrap: int = 200,
    edge_confidence: float = 0.9,
    seed: int = 0,
) -> CorrelationResult:
    """Correlations of the (transformed) errors in ``values`` (models x properties) and the graph built on them."""
    pearson = values.corr(method="pearson", min_periods=3)
    spearman = values.corr(method="spearman", min_periods=3)
    chosen = pearson if method == "pearson" else spearman
    basis = values if method == "pearson" else values.rank()
    confidence = bootstrap_edge_confidence(
        basis.to_numpy(dtype=float), r2_threshold, n_bootstrap, np.random.default_rng(seed)
    )
    names = list(values.columns)
    graph = nx.Graph()
    graph.add_nodes_from(names)
    rows = []
    r = chosen.to_numpy()
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if np.isfinite(r[i, j]) and r[i, j] ** 2 > r2_threshold:
                attrs = {"r": float(r[i, j]), "r2": float(r[i, j] ** 2), "confidence": float(confidence[i, j])}
                graph.add_edge(names[i], names[j], **attrs)
                rows.append({"source": names[i], "target": names[j], **attrs})
    edges = pd.DataFrame(rows, columns=["source", "target", "r", "r2", "confidence"])
    edges["confident"] = edges["confidence"] >= edge_confidence
    components = sorted((sorted(c) for c in nx.connected_components(graph)), key=lambda c: (-len(c), c[0]))
    representatives, pagerank = greedy_pagerank_representatives(graph)
    off = r[~np.eye(len(names), dtype=bool)]
    off = off[np.isfinite(off)]
    return CorrelationResult(
        method=method,
        pearson=pearson,
        spearman=spearman,
        r2_threshold=r2_threshold,
        graph=graph,
        edges=edges.sort_values("r2", ascending=False).reset_index(drop=True),
        components=components,
        pagerank=pagerank,
        representatives=representatives,
        mean_offdiagonal_r=float(off.mean()) if off.size else 0.0,
        n_bootstrap=n_bootstrap,
    )
