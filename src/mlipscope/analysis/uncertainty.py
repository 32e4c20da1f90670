"""Intervals for the numbers the analyses report (95 % unless told otherwise).

- a share k/n (models meeting a threshold): the Wilson score interval (scipy ``binomtest(...).proportion_ci``), which
  keeps its coverage near 95 % for small n and shares near 0 or 1, where the normal approximation fails;
- a statistic of resampled models: the percentile bootstrap interval (median, 2.5 and 97.5 percentiles of the
  statistic over the resamples).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest

CI_LEVEL = 0.95


def wilson_interval(k: int, n: int, level: float = CI_LEVEL) -> tuple[float, float]:
    """Wilson score interval of the share k/n (NaN, NaN when n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def percentile_summary(samples: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float, float]:
    """(median, lower, upper) percentile interval of bootstrap ``samples`` (NaN ignored; all NaN: NaN x 3)."""
    values = np.asarray(samples, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    tail = 100.0 * (1.0 - level) / 2.0
    low, median, high = np.percentile(values, [tail, 50.0, 100.0 - tail])
    return float(median), float(low), float(high)


def bootstrap_indices(n_items: int, n_draw: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_resamples`` x ``n_draw`` indices drawn with replacement from ``range(n_items)``."""
    return rng.integers(0, n_items, size=(n_resamples, n_draw))


def format_interval(value: float, low: float, high: float, digits: int = 2, percent: bool = False) -> str:
    """``0.42 [0.31, 0.55]`` (or ``42 % [31, 55]``); an em dash for a missing value."""
    if value is None or not np.isfinite(value):
        return "—"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{100 * value:.0f} %" if percent else f"{value:.{digits}g}"
    if percent:
        return f"{100 * value:.0f} % [{100 * low:.0f}, {100 * high:.0f}]"
    return f"{value:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}]"
