"""Acceptable-error thresholds: which models meet each one, the share per MLIP type, properties ranked by difficulty.

A failed evaluation (NaN) does not meet a threshold and stays in the denominator: a type that fails often should
not look better for it. Difficulty = share of all models meeting the threshold (lower is harder); ties are broken by
the best error relative to the threshold.

Every share comes with the number of models behind it and its Wilson 95 % interval (:mod:`.uncertainty`);
``share_intervals`` holds them per (property, type) with ``too_few_members`` for a type under ``min_type_members``
(shown, never ranked: its ``rank`` among the types is empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from mlipscope.analysis.uncertainty import wilson_interval

ALL_TYPES = "all"
SHARE_COLUMNS = [
    "property",
    "type",
    "n_models",
    "n_meeting",
    "share",
    "ci_low",
    "ci_high",
    "too_few_members",
    "rank",
]


@dataclass(frozen=True)
class ThresholdResult:
    thresholds: dict[str, float]
    met: pd.DataFrame  # models x properties (bool), only properties with a threshold
    pass_share: pd.DataFrame  # properties x (types..., "all"): share of models meeting the threshold
    difficulty: pd.DataFrame  # one row per property with a threshold, hardest first
    ignored: list[str]  # threshold names that match no property column
    share_intervals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SHARE_COLUMNS))
    # error columns without an acceptable error: in the tables, never judged (the report lists them)
    unjudged: list[str] = field(default_factory=list)


def share_intervals(met: pd.DataFrame, types: pd.Series, min_type_members: int) -> pd.DataFrame:
    """Long table: per (property, type or ``all``) the models, those meeting, the share, its Wilson interval,
    ``too_few_members`` and the type's rank by share among the types with enough members (1 = highest)."""
    rows = []
    names = [name for name in sorted(types.unique()) if name != ALL_TYPES]  # "all": a table without types
    groups = [(ALL_TYPES, met.index)] + [(name, types.index[types == name]) for name in names]
    for prop in met.columns:
        for name, members in groups:
            n, k = len(members), int(met.loc[members, prop].sum())
            low, high = wilson_interval(k, n)
            few = name != ALL_TYPES and n < min_type_members
            rows.append(
                {
                    "property": prop,
                    "type": name,
                    "n_models": n,
                    "n_meeting": k,
                    "share": k / n if n else float("nan"),
                    "ci_low": low,
                    "ci_high": high,
                    "too_few_members": few,
                }
            )
    table = pd.DataFrame(rows, columns=SHARE_COLUMNS[:-1])
    ranked = (table["type"] != ALL_TYPES) & ~table["too_few_members"].astype(bool)
    table["rank"] = table[ranked].groupby("property")["share"].rank(ascending=False, method="min")
    return table


def evaluate_thresholds(
    errors: pd.DataFrame, types: pd.Series, thresholds: dict[str, float], min_type_members: int = 10
) -> ThresholdResult:
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
        low, high = wilson_interval(int(met[name].sum()), len(met))
        rows.append(
            {
                "property": name,
                "threshold": used[name],
                "share_meeting": share.loc[name, ALL_TYPES],
                "share_ci_low": low,
                "share_ci_high": high,
                "n_models": len(met),
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
            "share_ci_low",
            "share_ci_high",
            "n_models",
            "n_meeting",
            "n_failed",
            "best_error",
            "median_error",
            "median_over_threshold",
        ],
    )
    difficulty = difficulty.sort_values(["share_meeting", "median_over_threshold"], ascending=[True, False])
    difficulty.insert(0, "difficulty_rank", range(1, len(difficulty) + 1))
    intervals = share_intervals(met, types, min_type_members)
    unjudged = [name for name in errors.columns if name not in used]
    return ThresholdResult(used, met, share, difficulty.reset_index(drop=True), ignored, intervals, unjudged)
