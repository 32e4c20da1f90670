"""Does ensemble disagreement know when the ensemble is wrong? Calibration of a spread against the errors it should
predict: pure functions of two arrays, ``spread`` (the members' standard deviation for each frame, atom or
property) and ``error`` (the ensemble mean's signed error there).

- rank agreement: Spearman's rho of spread vs |error| (scipy.stats), with a bootstrap interval;
- error-based calibration (Levi et al., Sensors 22, 5540, 2022): bin by spread, compare the root mean variance
  (RMV) of each bin with its RMS error; a calibrated spread lies on the diagonal;
- interval calibration (Tran et al., Mach. Learn.: Sci. Technol. 1, 025006, 2020, via uncertainty-toolbox): the
  miscalibration area between the expected and observed share of errors inside mean ± z·spread intervals;
- the scale factor that calibrates the spread (uncertainty-toolbox's recalibration ratio, fitted on one split and
  checked on the other: a spread that is right only up to a factor is still useful once scaled);
- for active learning: the share of the largest errors that the most uncertain points catch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mlipscope.analysis.uncertainty import bootstrap_indices, percentile_summary


@dataclass(frozen=True)
class Calibration:
    """The calibration of one spread against its errors (see the module docstring); ``scale_factor`` is fitted on
    the ``fit`` split, the ``checked`` areas are on the other split with and without it."""

    n: int
    spearman_rho: float
    spearman_ci: tuple[float, float]
    miscalibration_area: float
    scale_factor: float
    checked_area_unscaled: float
    checked_area_scaled: float
    top_catch_share: float
    top_fraction: float


def _checked(spread: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spread, error = np.asarray(spread, dtype=float).ravel(), np.asarray(error, dtype=float).ravel()
    if spread.shape != error.shape:
        raise ValueError(f"spread and error differ in size: {spread.size} vs {error.size}")
    keep = np.isfinite(spread) & np.isfinite(error)
    return spread[keep], error[keep]


def spread_error_spearman(
    spread: np.ndarray, error: np.ndarray, *, n_resamples: int = 500, seed: int = 0
) -> tuple[float, float, float]:
    """Spearman's rho of spread vs |error| and its percentile bootstrap interval (rho, low, high)."""
    spread, error = _checked(spread, error)
    if spread.size < 3:
        return math.nan, math.nan, math.nan
    rho = float(spearmanr(spread, np.abs(error)).statistic)
    draws = bootstrap_indices(spread.size, spread.size, n_resamples, np.random.default_rng(seed))
    samples = [spearmanr(spread[i], np.abs(error[i])).statistic for i in draws]
    _, low, high = percentile_summary(np.asarray(samples, dtype=float))
    return rho, low, high


def calibration_curve(spread: np.ndarray, error: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Error-based calibration: points binned into ``n_bins`` equal-count bins of spread; per bin the root mean
    variance ``rmv`` (RMS spread), the ``rmse`` of the errors and the count ``n``."""
    spread, error = _checked(spread, error)
    order = np.argsort(spread, kind="stable")
    rows = []
    for members in np.array_split(order, min(n_bins, max(spread.size, 1))):
        if members.size:
            rows.append(
                {
                    "rmv": float(np.sqrt(np.mean(spread[members] ** 2))),
                    "rmse": float(np.sqrt(np.mean(error[members] ** 2))),
                    "n": int(members.size),
                }
            )
    return pd.DataFrame(rows, columns=["rmv", "rmse", "n"])


def miscalibration_area(spread: np.ndarray, error: np.ndarray) -> float:
    """Area between the expected and observed shares of errors inside centred Gaussian intervals of the spread
    (0: calibrated; 0.5 at most). Points with zero spread are left out (they have no interval)."""
    import uncertainty_toolbox as uct  # imports matplotlib and scikit-learn: only when asked

    spread, error = _checked(spread, error)
    keep = spread > 0
    if keep.sum() < 2:
        return math.nan
    return float(uct.miscalibration_area(np.zeros(keep.sum()), spread[keep], error[keep], vectorized=True))


def scale_factor(spread: np.ndarray, error: np.ndarray) -> float:
    """The factor s that makes s·spread best calibrated (minimum miscalibration area; uncertainty-toolbox)."""
    import uncertainty_toolbox as uct

    spread, error = _checked(spread, error)
    keep = spread > 0
    if keep.sum() < 2:
        return math.nan
    return float(
        uct.recalibration.optimize_recalibration_ratio(
            np.zeros(keep.sum()), spread[keep], error[keep], criterion="miscal"
        )
    )


def top_uncertain_catch_share(spread: np.ndarray, error: np.ndarray, fraction: float = 0.1) -> float:
    """Of the ``fraction`` largest |errors|, the share found among the ``fraction`` largest spreads (what a
    committee-driven selection of new DFT frames would catch; ``fraction`` itself for a spread that knows
    nothing, 1 for a perfect ranking)."""
    spread, error = _checked(spread, error)
    k = int(round(fraction * spread.size))
    if k < 1:
        return math.nan
    top_spread = set(np.argsort(-spread, kind="stable")[:k].tolist())
    top_error = np.argsort(-np.abs(error), kind="stable")[:k]
    return sum(int(i) in top_spread for i in top_error) / k


def calibrate(spread: np.ndarray, error: np.ndarray, *, top_fraction: float = 0.1, seed: int = 0) -> Calibration:
    """Every calibration number of one spread. The scale factor is fitted on a random half and checked on the
    other (the areas before and after scaling there)."""
    spread, error = _checked(spread, error)
    rho, low, high = spread_error_spearman(spread, error, seed=seed)
    order = np.random.default_rng(seed).permutation(spread.size)
    fit, check = order[: spread.size // 2], order[spread.size // 2 :]
    factor = scale_factor(spread[fit], error[fit])
    return Calibration(
        n=int(spread.size),
        spearman_rho=rho,
        spearman_ci=(low, high),
        miscalibration_area=miscalibration_area(spread, error),
        scale_factor=factor,
        checked_area_unscaled=miscalibration_area(spread[check], error[check]),
        checked_area_scaled=miscalibration_area(factor * spread[check], error[check]),
        top_catch_share=top_uncertain_catch_share(spread, error, top_fraction),
        top_fraction=top_fraction,
    )


def ensemble_spread_and_error(predictions: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members' predictions (members x points) and the reference (points): the members' standard deviation
    (ddof 1) and the signed error of the ensemble mean at each point."""
    predictions = np.asarray(predictions, dtype=float)
    if predictions.ndim != 2 or predictions.shape[0] < 2:
        raise ValueError(f"need members x points with at least two members, got shape {predictions.shape}")
    return predictions.std(axis=0, ddof=1), predictions.mean(axis=0) - np.asarray(truth, dtype=float)
