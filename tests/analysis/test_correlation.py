import networkx as nx
import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.correlation import (
    correlation_graph,
    greedy_pagerank_representatives,
    weighted_correlation,
)


def _planted(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Group A (3 properties, r ~ 0.9), group B (2 properties, r ~ 0.9), one independent property."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, n))

    def noisy(f):
        return np.sqrt(0.9) * f + np.sqrt(0.1) * rng.normal(size=n)

    frame = pd.DataFrame(
        {"a1": noisy(a), "a2": noisy(a), "a3": noisy(a), "b1": noisy(b), "b2": noisy(b), "c": rng.normal(size=n)}
    )
    frame.iloc[::17, 1] = np.nan  # failed evaluations: correlations stay pairwise-complete
    return frame


def test_weighted_correlation_matches_pandas_pairwise_and_repeated_rows():
    frame = _planted(80)
    np.testing.assert_allclose(weighted_correlation(frame.to_numpy(), np.ones(80)), frame.corr(), atol=1e-10)
    weights = np.random.default_rng(1).integers(0, 4, size=80)
    repeated = frame.loc[frame.index.repeat(weights)]
    np.testing.assert_allclose(
        weighted_correlation(frame.to_numpy(), weights.astype(float)), repeated.corr(), atol=1e-10
    )


def test_planted_groups_components_and_representatives():
    result = correlation_graph(_planted(), r2_threshold=0.6, n_bootstrap=50, seed=0)
    assert result.components == [["a1", "a2", "a3"], ["b1", "b2"], ["c"]]
    reps = set(result.representatives)
    assert len(reps) == 3 and "c" in reps
    assert len(reps & {"a1", "a2", "a3"}) == 1 and len(reps & {"b1", "b2"}) == 1
    assert len(result.edges) == 4
    assert (result.edges["confidence"] > 0.95).all() and result.edges["confident"].all()
    assert result.pearson.loc["a1", "a2"] == pytest.approx(0.9, abs=0.05)
    assert result.spearman.loc["b1", "b2"] == pytest.approx(0.89, abs=0.05)


def test_spearman_graph_uses_rank_correlation():
    frame = _planted()
    frame["a1"] = np.exp(4 * frame["a1"])  # monotone distortion: Spearman keeps the edge strength
    result = correlation_graph(frame, method="spearman", r2_threshold=0.6, n_bootstrap=10)
    assert result.graph.has_edge("a1", "a3")
    assert result.edges.set_index(["source", "target"]).loc[("a1", "a3"), "r"] == pytest.approx(
        frame["a1"].corr(frame["a3"], method="spearman")
    )


def test_greedy_pagerank_rule():
    graph = nx.Graph()
    graph.add_edges_from([("hub", leaf) for leaf in ("l1", "l2", "l3", "l4")], r2=1.0)
    graph.add_edge("p", "q", r2=1.0)
    graph.add_node("z")
    chosen, pagerank = greedy_pagerank_representatives(graph)
    assert chosen[0] == "hub" and pagerank.index[0] == "hub"
    assert set(chosen) == {"hub", "p", "z"}  # p before q on a tie; isolated z is its own representative
