"""Calibration of ensemble spread against errors, checked on synthetic ensembles of known calibration and against
independent computations (ranks by double argsort, interval shares counted directly)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from mlipscope.analysis.calibration import (
    calibrate,
    calibration_curve,
    ensemble_spread_and_error,
    miscalibration_area,
    spread_error_spearman,
    top_uncertain_catch_share,
)


def _synthetic(n: int = 4000, factor: float = 1.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Errors drawn from N(0, sigma) with sigma spread over a decade; the reported spread is sigma / factor."""
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.uniform(np.log(0.01), np.log(0.1), n))
    return sigma / factor, rng.normal(0.0, sigma)


def _area_by_counting(spread: np.ndarray, error: np.ndarray, n_points: int = 200) -> float:
    """Miscalibration area from its definition: expected share p vs observed share of |e| <= z_p * spread."""
    expected = np.linspace(0.0, 1.0, n_points)
    z = norm.ppf(0.5 + expected / 2.0)
    observed = np.array([np.mean(np.abs(error) <= zi * spread) for zi in z])
    gap = np.abs(observed - expected)
    return float(np.sum((gap[1:] + gap[:-1]) / 2.0 * np.diff(expected)))


def test_calibrated_ensemble_has_small_area_and_unit_scale():
    spread, error = _synthetic()
    result = calibrate(spread, error)
    assert result.miscalibration_area < 0.03
    assert result.scale_factor == pytest.approx(1.0, abs=0.1)
    assert result.spearman_ci[0] > 0.1  # spread ranks the errors (over a decade of sigma)
    curve = calibration_curve(spread, error, n_bins=8)
    assert len(curve) == 8 and curve["n"].sum() == spread.size
    np.testing.assert_allclose(curve["rmse"], curve["rmv"], rtol=0.15)


def test_overconfident_ensemble_is_found_and_its_scale_recovered():
    spread, error = _synthetic(factor=3.0)
    result = calibrate(spread, error)
    assert result.miscalibration_area > 0.2
    assert result.scale_factor == pytest.approx(3.0, rel=0.1)
    assert result.checked_area_scaled < 0.04 < result.checked_area_unscaled


def test_miscalibration_area_agrees_with_counting_interval_shares():
    for factor in (0.5, 1.0, 2.0):
        spread, error = _synthetic(factor=factor, seed=3)
        assert miscalibration_area(spread, error) == pytest.approx(_area_by_counting(spread, error), abs=0.01)


def test_spearman_agrees_with_pearson_of_ranks():
    spread, error = _synthetic(n=500, seed=5)
    rho, low, high = spread_error_spearman(spread, error, n_resamples=200)
    ranks = [np.argsort(np.argsort(x)) for x in (spread, np.abs(error))]
    assert rho == pytest.approx(np.corrcoef(*ranks)[0, 1], abs=1e-12)
    assert low < rho < high


def test_top_catch_share_is_one_for_a_perfect_ranking_and_near_the_fraction_for_noise():
    rng = np.random.default_rng(7)
    error = rng.normal(size=5000)
    assert top_uncertain_catch_share(np.abs(error), error, 0.1) == 1.0
    assert top_uncertain_catch_share(rng.uniform(size=5000), error, 0.1) == pytest.approx(0.1, abs=0.04)


def test_ensemble_spread_and_error_of_members():
    predictions = np.array([[1.0, 2.0], [3.0, 2.0], [2.0, 5.0]])
    spread, error = ensemble_spread_and_error(predictions, np.array([1.5, 3.0]))
    np.testing.assert_allclose(spread, [1.0, np.sqrt(3.0)])
    np.testing.assert_allclose(error, [0.5, 0.0])
    with pytest.raises(ValueError):
        ensemble_spread_and_error(predictions[:1], np.array([1.0, 2.0]))
