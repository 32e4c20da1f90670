"""Acceptable-error thresholds: which models meet each one, the share per MLIP type, properties ranked by difficulty.

A failed evaluation (NaN) does not meet a threshold and stays in the denominator: a type that fails often should
not look better for it. Difficulty = share of all models meeting the threshold (lower is harder); ties are broken by
the best error relative to the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

ALL_TYPES = "all"


@dataclass(frozen=True)
class ThresholdResult:
    thresholds: dict[str, float]
    met: pd.DataFrame  # models x properties (bool), only properties with a threshold
    pass_share: pd.DataFrame  # properties x (types..., "all"): share of models meeting the threshold
    difficulty: pd.DataFrame  # one row per property with a threshold, hardest first
    ignored: list[str]  # threshold names that match no property column


def evaluate_thresholds(errors: pd.DataFrame, types: pd.Series, thresholds: dict[str, float]) -> ThresholdResult:
    """Compare |error| with each property's threshold; ``errors`` are raw (untransformed) errors."""
    used = {p: float(t) for p, t in thresholds.items() if p in errors.columns}
    ignored = sorted(set(thresholds) - set(used))
    names = list(used)
    magnitude = errors[names].abs()
    met = magnitude.le(pd.Series(used)) & magnitude.notna()
    share = met.groupby(types).mean().T if names else pd.DataFrame(index=names)
    share[ALL_TYPES] = met.mean()
    share.index.name = "property"
    rows = []
    for name in names:
        column = magnitude[name]
        rows.append(
            {
                "property": name,
                "threshold": used[name],
                "share_meeting": share.loc[name, ALL_TYPES],
                "n_meeting": int(met[name].sum()),
                "n_failed": int(column.isna().sum()),
                "best_error": column.min(),
                "median_error": column.median(),
                "median_over_threshold": column.median() / used[name],
            }
        )
    difficulty = pd.DataFrame(
        rows,
        columns=[
            "property",
            "threshold",
            "share_meeting",
            "n_meeting",
            "n_failed",
            "best_error",
            "median_error",
            "median_over_threshold",
        ],
    )
    difficulty = difficulty.sort_values(["share_meeting", "median_over_threshold"], ascending=[True, False])
    difficulty.insert(0, "difficulty_rank", range(1, len(difficulty) + 1))
    return ThresholdResult(used, met, share, difficulty.reset_index(drop=True), ignored)
