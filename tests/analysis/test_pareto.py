import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.pareto import (
    analyse_pareto,
    count_vs_k,
    equicorrelated_normal,
    expected_maxima_independent,
    front_quality,
    hypervolume,
    pareto_mask,
    subsampled_quality,
)


def _planted(n_front: int = 12, n_other: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Front: points on the simplex x+y+z = 1; the rest strictly behind a front point."""
    rng = np.random.default_rng(seed)
    front = rng.dirichlet(np.ones(3), size=n_front)
    behind = front[rng.integers(0, n_front, n_other)] + rng.uniform(0.01, 1.0, size=(n_other, 3))
    points = np.vstack([front, behind])
    planted = np.r_[np.ones(n_front, bool), np.zeros(n_other, bool)]
    order = rng.permutation(len(points))
    return points[order], planted[order]


def test_planted_front_is_found():
    points, planted = _planted()
    np.testing.assert_array_equal(pareto_mask(points), planted)


def test_expected_maxima_independent_is_harmonic_in_2d():
    n = 50
    expected = expected_maxima_independent(n, 3)
    assert expected[0] == 1.0
    assert expected[1] == pytest.approx(sum(1 / i for i in range(1, n + 1)))
    # k = 3: sum_i H_i / i
    harmonic = np.cumsum(1 / np.arange(1, n + 1))
    assert expected[2] == pytest.approx(np.sum(harmonic / np.arange(1, n + 1)))


def test_null_model_matches_exact_expectation_and_correlation():
    rng = np.random.default_rng(3)
    counts = [pareto_mask(equicorrelated_normal(200, 3, 0.0, rng)).sum() for _ in range(300)]
    assert np.mean(counts) == pytest.approx(expected_maxima_independent(200, 3)[2], rel=0.05)
    sample = equicorrelated_normal(20000, 4, 0.7, rng)
    corr = np.corrcoef(sample.T)[np.triu_indices(4, 1)]
    np.testing.assert_allclose(corr, 0.7, atol=0.02)


def test_count_vs_k_correlated_properties_give_fewer_optima():
    rng = np.random.default_rng(0)
    values = equicorrelated_normal(300, 8, 0.9, rng)
    table = count_vs_k(values, [2, 8], [0.0, 0.9], repeats=3, rng=rng)
    assert list(table["k"]) == [2, 8]
    row = table.set_index("k").loc[8]
    assert row["observed"] < 0.5 * row["null_rho_0.00"]
    assert row["null_rho_0.00"] == pytest.approx(row["independent_expected"], rel=0.25)


def test_hypervolume_2d_exact():
    hv, method = hypervolume(np.array([[0.2, 0.6], [0.5, 0.3]]), 2)
    assert method == "exact"
    assert hv == pytest.approx(0.9 * 0.5 + 0.6 * 0.3)


def test_front_quality_owner_of_front_has_zero_igd():
    points, planted = _planted(n_front=10, n_other=60)
    scaled = pd.DataFrame(points / points.max(axis=0))
    types = pd.Series(np.where(planted, "best", "rest"))
    quality, _ = front_quality(scaled, types, pareto_mask(scaled.to_numpy()))
    quality = quality.set_index("type")
    assert quality.loc["best", "igd"] == pytest.approx(0.0)
    assert quality.loc["rest", "igd"] > 0.0
    assert quality.loc["best", "share_of_front"] == 1.0
    assert quality.loc["best", "hypervolume"] > quality.loc["rest", "hypervolume"]


def test_analyse_pareto_drops_nan_models():
    points, planted = _planted(n_front=8, n_other=40)
    errors = pd.DataFrame(points, columns=["a", "b", "c"], index=[f"m{i}" for i in range(len(points))])
    errors.iloc[np.flatnonzero(~planted)[0], 1] = np.nan
    types = pd.Series("t", index=errors.index)
    result = analyse_pareto(errors, types, ["a", "b", "c"], k_values=[2, 3], null_rhos=[0.0], repeats=1, seed=0)
    assert result.n_dropped_nan == 1
    assert result.optimal.sum() == 8 and result.optimal_all.sum() == 8
    assert result.optimal[result.optimal].index.isin(errors.index[planted]).all()
    assert ((result.scaled >= 0) & (result.scaled <= 1)).all().all()


def test_equal_size_samples_remove_the_size_bias_of_hypervolume():
    """Two types drawn from one distribution, 200 and 15 members: on all members the big type's hypervolume is
    larger (more draws, a better front); on equal-size samples the difference vanishes on average, and the small
    type's value (its 15 members every time) mostly lies within the big type's interval."""
    rng = np.random.default_rng(5)
    index = [f"m{i}" for i in range(215)]
    types = pd.Series(["big"] * 200 + ["small"] * 15, index=index)
    full_gap, equal_gap, inside = [], [], []
    for _ in range(100):
        points = rng.uniform(0.0, 1.0, size=(215, 3))
        scaled = pd.DataFrame(points, index=index)
        front = pareto_mask(points)
        full = front_quality(scaled, types, front)[0].set_index("type")["hypervolume"]
        sub = subsampled_quality(scaled, types, front, ["big", "small"], n_subsamples=60, rng=rng).set_index("type")
        assert (sub["subsample_size"] == 15).all()
        assert sub.loc["small", "hv_median"] == pytest.approx(full["small"])  # all its members every time
        full_gap.append(full["big"] - full["small"])
        equal_gap.append(sub.loc["big", "hv_median"] - sub.loc["small", "hv_median"])
        inside.append(sub.loc["big", "hv_ci_low"] <= sub.loc["small", "hv_median"] <= sub.loc["big", "hv_ci_high"])
    assert np.mean(full_gap) > 0.1 and min(full_gap) > 0  # the bias, every time
    assert abs(np.mean(equal_gap)) < 0.2 * np.mean(full_gap)  # unbiased: 0 within ~4 standard errors
    assert np.mean(inside) >= 0.8


def test_a_type_with_too_few_members_is_marked_and_not_ranked():
    rng = np.random.default_rng(6)
    points = rng.uniform(0.0, 1.0, size=(65, 2))
    better = points.copy()
    better[:30] *= 0.5  # "good" is better than "ok"
    index = [f"m{i}" for i in range(65)]
    errors = pd.DataFrame(better + 0.01, index=index, columns=["a", "b"])
    types = pd.Series(["good"] * 30 + ["ok"] * 30 + ["tiny"] * 5, index=index)
    result = analyse_pareto(
        errors, types, ["a", "b"], k_values=[2], null_rhos=[0.0], repeats=1, seed=0, min_type_members=10
    )
    quality = result.quality.set_index("type")
    assert quality.loc["tiny", "too_few_members"] and np.isnan(quality.loc["tiny", "hv_rank"])
    assert np.isnan(quality.loc["tiny", "hv_median"])
    assert quality.loc["good", "hv_rank"] == 1 and quality.loc["ok", "hv_rank"] == 2
    assert quality.loc["good", "hv_ci_low"] <= quality.loc["good", "hv_median"] <= quality.loc["good", "hv_ci_high"]
