import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.correlation import correlation_graph
from mlipscope.analysis.findings import PERCENTILE_MEASURE, category_scores, hardest_properties, trade_offs
from mlipscope.analysis.type_graphs import fisher_z_p, type_correlation_graphs


def _typed(sizes: dict[str, int], share: dict[str, float], seed: int) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    types = pd.Series(np.repeat(list(sizes), list(sizes.values())))
    p = types.map(share).to_numpy()
    met = pd.DataFrame({f"d{i}.formation_energy_ev": rng.random(len(types)) < p for i in range(3)})
    errors = pd.DataFrame(rng.random(met.shape), columns=met.columns)
    return errors, types, met


def test_clearly_best_type_and_too_few_members_never_ranked():
    errors, types, met = _typed({"good": 40, "poor": 40, "tiny": 5}, {"good": 0.8, "poor": 0.3, "tiny": 1.0}, 0)
    scores, best = category_scores(errors, types, met, list(met.columns), min_type_members=10, n_bootstrap=300, seed=0)
    row = best.iloc[0]
    assert row["category"] == "defect formation energies"
    assert (row["best_type"], row["runner_up"], row["verdict"]) == ("good", "poor", "clearly best")
    assert row["advantage_ci_low"] > 0 and row["best_n"] == 40 and row["too_few_members"] == "tiny (5)"
    tiny = scores.set_index("type").loc["tiny"]
    assert tiny["score"] > row["best_score"] and np.isnan(tiny["rank"])  # the best score, yet not ranked
    by_hand = met[types == "good"].mean(axis=1).mean()
    assert row["best_score"] == pytest.approx(by_hand)


def test_equal_types_are_not_distinguishable():
    verdicts = []
    for seed in range(20):
        errors, types, met = _typed({"a": 30, "b": 30}, {"a": 0.5, "b": 0.5}, seed)
        _, best = category_scores(errors, types, met, list(met.columns), min_type_members=10, n_bootstrap=200, seed=0)
        verdicts.append(best.iloc[0]["verdict"])
    assert verdicts.count("not distinguishable from the runner-up") >= 17


def test_category_without_thresholds_uses_percentiles_lower_is_better():
    rng = np.random.default_rng(1)
    types = pd.Series(["a"] * 30 + ["b"] * 30)
    errors = pd.DataFrame({"phonons.x_thz": np.r_[rng.uniform(0, 1, 30), rng.uniform(2, 3, 30)]})
    errors.iloc[0, 0] = np.nan  # failed: counts as the worst
    scores, best = category_scores(
        errors, types, pd.DataFrame(index=errors.index), ["phonons.x_thz"], min_type_members=10, n_bootstrap=100, seed=0
    )
    assert best.iloc[0]["measure"] == PERCENTILE_MEASURE and best.iloc[0]["best_type"] == "a"
    a = scores.set_index("type").loc["a", "score"]
    assert a == pytest.approx((100.0 + sum(100.0 * k / 59 for k in range(1, 30))) / 30)


def test_trade_offs_interval_covers_a_known_negative_correlation():
    rng = np.random.default_rng(2)
    covered = []
    for _ in range(60):
        x = rng.multivariate_normal([0, 0, 0], [[1, -0.5, 0], [-0.5, 1, 0.8], [0, 0.8, 1]], size=80)
        values = pd.DataFrame(x, columns=["p", "q", "s"])
        corr = correlation_graph(values, n_bootstrap=0)
        table = trade_offs(values, corr, k=1, n_bootstrap=200, seed=int(rng.integers(1e9)))
        negative = table[table["kind"].str.startswith("trade-off")].iloc[0]
        assert {negative["source"], negative["target"]} == {"p", "q"} and negative["n_models"] == 80
        covered.append(negative["ci_low"] <= -0.5 <= negative["ci_high"])
    assert np.mean(covered) >= 0.85


def test_hardest_properties_prefer_canonical_values():
    difficulty = pd.DataFrame(
        {"property": ["x.force_mae_ev_a", "x.force_rmse_ev_a", "y"], "difficulty_rank": [1, 2, 3]}
    )
    assert hardest_properties(difficulty, ["x.force_rmse_ev_a", "y"])["property"].tolist() == ["x.force_rmse_ev_a", "y"]
    assert len(hardest_properties(difficulty, ["z"])) == 3


def test_per_type_graphs_find_shared_and_type_specific_edges():
    """Type A: a~b and c~d; type B: only c~d (a, b independent); type C too small for a graph."""
    rng = np.random.default_rng(3)

    def block(n: int, ab: bool) -> np.ndarray:
        f, g = rng.normal(size=(2, n))
        a = f + 0.3 * rng.normal(size=n)
        b = (f if ab else rng.normal(size=n)) + 0.3 * rng.normal(size=n)
        return np.c_[a, b, g + 0.3 * rng.normal(size=n), g + 0.3 * rng.normal(size=n)]

    values = pd.DataFrame(np.vstack([block(60, True), block(50, False), block(8, True)]), columns=list("abcd"))
    types = pd.Series(["A"] * 60 + ["B"] * 50 + ["C"] * 8)
    graphs = type_correlation_graphs(values, types, min_models=20, r2_threshold=0.6, n_bootstrap=0)
    assert sorted(graphs.graphs) == ["A", "B"] and "8 members < 20" in graphs.skipped["C"]
    table = graphs.comparison.set_index(["source", "target"])
    assert table.loc[("c", "d"), "kind"] == "shared by both types" and not table.loc[("c", "d"), "r_differs"]
    assert table.loc[("a", "b"), "kind"] == "only A" and table.loc[("a", "b"), "r_differs"]
    assert abs(table.loc[("a", "b"), "r_B"]) < 0.4


def test_fisher_z_against_a_hand_computation():
    z = (np.arctanh(0.8) - np.arctanh(0.5)) / np.sqrt(1 / 47 + 1 / 37)
    from scipy.stats import norm

    assert fisher_z_p(0.8, 50, 0.5, 40) == pytest.approx(2 * norm.sf(z))
    assert np.isnan(fisher_z_p(0.8, 3, 0.5, 40))
