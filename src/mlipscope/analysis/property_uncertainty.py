"""Per-property ensemble uncertainty: for each property value, the spread of the members' predictions against the
error of the ensemble mean, overall and per MLIP type; whether mean ± k·spread covers the reference; whether the
properties the members disagree on most are the ones the difficulty ranking calls hard.

Pure functions of a value table (models x value names, the predicted values, not errors) and the references.
Spreads and errors are compared in units of each value's acceptable error, so that a 0.1 eV and a 5 GPa spread
can be ranked together. A group with fewer than ``min_members`` members gets no spread (NaN): a standard deviation
of two models says little.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr

from mlipscope.analysis.uncertainty import bootstrap_indices, percentile_summary, wilson_interval

#: the columns of :func:`property_spreads`
SPREAD_COLUMNS = ("group", "value", "n_members", "mean", "spread", "reference", "mean_error", "z", "threshold")


def property_spreads(
    values: pd.DataFrame,
    references: pd.Series,
    thresholds: pd.Series,
    types: pd.Series | None = None,
    *,
    min_members: int = 5,
) -> pd.DataFrame:
    """One row per (group, value): the members' mean and standard deviation (ddof 1), the mean's signed error
    against the reference and ``z`` = |mean error| / spread. Groups: ``all`` and, with ``types``, each type."""
    groups = {"all": values.index}
    if types is not None:
        groups |= {str(t): idx for t, idx in types.reindex(values.index).groupby(types).groups.items()}
    rows = []
    for group, index in groups.items():
        block = values.loc[index]
        for name in values.columns:
            column = block[name].astype(float).dropna()
            n = int(column.size)
            spread = float(column.std(ddof=1)) if n >= max(min_members, 2) else math.nan
            reference = float(references.get(name, math.nan))
            mean = float(column.mean()) if n else math.nan
            error = mean - reference
            z = abs(error) / spread if spread > 0 else math.nan
            rows.append((group, name, n, mean, spread, reference, error, z, float(thresholds.get(name, math.nan))))
    return pd.DataFrame(rows, columns=list(SPREAD_COLUMNS))


def coverage(spreads: pd.DataFrame, k: float = 2.0) -> dict[str, float]:
    """Share of values whose reference lies within mean ± k·spread, its Wilson interval, and the share a
    Gaussian spread of the right size would give (0.954 for k = 2)."""
    usable = spreads.dropna(subset=["spread", "mean_error"])
    usable = usable[usable["spread"] > 0]
    n = int(len(usable))
    hits = int((usable["z"] <= k).sum())
    low, high = wilson_interval(hits, n)
    return {
        "k": float(k),
        "n": n,
        "share": hits / n if n else math.nan,
        "low": low,
        "high": high,
        "expected": float(2.0 * norm.cdf(k) - 1.0),
    }


def spread_vs_difficulty(
    spreads: pd.DataFrame, difficulty: pd.Series, *, n_resamples: int = 500, seed: int = 0
) -> tuple[float, float, float, int]:
    """Spearman's rho between each value's spread (in units of its acceptable error) and its difficulty (e.g. the
    share of models outside the acceptable error), with a percentile bootstrap interval over values, and n."""
    rows = spreads.set_index("value")
    scaled = (rows["spread"] / rows["threshold"]).replace([np.inf, -np.inf], np.nan)
    joined = pd.concat([scaled.rename("spread"), difficulty.rename("difficulty")], axis=1, join="inner").dropna()
    n = int(len(joined))
    if n < 4:
        return math.nan, math.nan, math.nan, n
    x, y = joined["spread"].to_numpy(), joined["difficulty"].to_numpy()
    rho = float(spearmanr(x, y).statistic)
    draws = bootstrap_indices(n, n, n_resamples, np.random.default_rng(seed))
    _, low, high = percentile_summary(np.asarray([spearmanr(x[i], y[i]).statistic for i in draws], dtype=float))
    return rho, low, high, n
