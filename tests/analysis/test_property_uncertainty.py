"""Per-property ensemble spread vs the error of the ensemble mean, on synthetic ensembles with known spread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.property_uncertainty import coverage, property_spreads, spread_vs_difficulty


def _ensemble(n_models: int = 40, n_values: int = 200, bias_scale: float = 1.0, seed: int = 2):
    """Members scatter around a model-type mean with a known sigma; the mean misses the reference by a draw of
    N(0, bias_scale * sigma): for bias_scale = 1 the spread of the members is a calibrated error estimate."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.uniform(-1.0, 1.0, n_values))
    reference = rng.normal(size=n_values)
    centre = reference + rng.normal(0.0, bias_scale * sigma)
    values = centre + rng.normal(0.0, 1.0, (n_models, n_values)) * sigma
    names = [f"p{i}.x" for i in range(n_values)]
    table = pd.DataFrame(values, columns=names, index=[f"m{i}" for i in range(n_models)])
    return table, pd.Series(reference, index=names), pd.Series(sigma, index=names)


def test_spreads_match_numpy_and_groups_by_type():
    table, reference, sigma = _ensemble(n_models=12, n_values=3)
    types = pd.Series(["a"] * 6 + ["b"] * 6, index=table.index)
    rows = property_spreads(table, reference, sigma, types, min_members=5)
    assert sorted(rows["group"].unique()) == ["a", "all", "b"]
    a = rows[(rows["group"] == "a") & (rows["value"] == "p1.x")].iloc[0]
    column = table["p1.x"].iloc[:6].to_numpy()
    assert a["spread"] == pytest.approx(np.std(column, ddof=1))
    assert a["mean_error"] == pytest.approx(column.mean() - reference["p1.x"])
    assert a["z"] == pytest.approx(abs(a["mean_error"]) / a["spread"])
    few = property_spreads(table.iloc[:3], reference, sigma, min_members=5)
    assert few["spread"].isna().all()  # three members: no spread shown


def test_coverage_of_a_calibrated_and_an_overconfident_ensemble():
    calibrated = property_spreads(*_ensemble(bias_scale=1.0))
    assert coverage(calibrated[calibrated["group"] == "all"], k=2.0)["share"] == pytest.approx(0.95, abs=0.05)
    wrong = property_spreads(*_ensemble(bias_scale=4.0))
    result = coverage(wrong[wrong["group"] == "all"], k=2.0)
    assert result["high"] < result["expected"]  # the interval excludes the share a calibrated spread gives


def test_spread_ranks_difficulty_when_hard_properties_scatter_more():
    table, reference, sigma = _ensemble(n_values=60)
    rows = property_spreads(table, reference, pd.Series(1.0, index=sigma.index))
    difficulty = sigma + np.random.default_rng(3).normal(0.0, 0.1, sigma.size)
    rho, low, high, n = spread_vs_difficulty(rows[rows["group"] == "all"], difficulty)
    assert n == 60 and rho > 0.8 and low < rho <= high
    rho_noise, *_ = spread_vs_difficulty(
        rows[rows["group"] == "all"], pd.Series(np.random.default_rng(4).uniform(size=60), index=sigma.index)
    )
    assert abs(rho_noise) < 0.35
