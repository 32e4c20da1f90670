"""What the study found, as numbers with their intervals and the number of models behind each: the hardest
properties, the type that does best per property category, the main trade-offs between properties.

Best type per category (:func:`category_scores`): each category's canonical values (:mod:`.canonical`) with a
threshold are scored by the share of them a member meets (failed = not met), a category without thresholds by the
member's mean percentile among all models (0 = best; failed = 100). A type's score is its members' mean, with a
bootstrap interval (members resampled with replacement within the type). Only types with ``min_type_members``
members are ranked; the best is "clearly best" when the bootstrap interval of its advantage over the runner-up
(types resampled independently) excludes 0.

Trade-offs (:func:`trade_offs`): the most negative and most positive correlations between canonical values, each
with its bootstrap interval (the same resampling as the graph's edge confidence) and its pairwise-complete n.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlipscope.analysis.canonical import property_category
from mlipscope.analysis.correlation import CorrelationResult, weighted_correlation
from mlipscope.analysis.selection import percentiles
from mlipscope.analysis.uncertainty import bootstrap_indices, percentile_summary

SHARE_MEASURE = "share of the category's thresholds met (higher is better)"
PERCENTILE_MEASURE = "mean percentile among all models (0 = best)"
SCORE_COLUMNS = ["category", "type", "n_members", "n_properties", "measure", "score", "ci_low", "ci_high"]
SCORE_COLUMNS += ["too_few_members", "rank"]
BEST_COLUMNS = ["category", "n_properties", "measure", "best_type", "best_score", "best_ci_low", "best_ci_high"]
BEST_COLUMNS += ["best_n", "runner_up", "runner_up_score", "runner_up_n", "advantage", "advantage_ci_low"]
BEST_COLUMNS += ["advantage_ci_high", "verdict", "too_few_members"]
TRADE_COLUMNS = ["kind", "source", "target", "r", "ci_low", "ci_high", "n_models"]


@dataclass(frozen=True)
class Findings:
    n_models: int
    type_sizes: dict[str, int]
    min_type_members: int
    hardest: pd.DataFrame  # the hardest properties (rows of the difficulty table)
    type_scores: pd.DataFrame  # SCORE_COLUMNS
    best_by_category: pd.DataFrame  # BEST_COLUMNS
    trade_offs: pd.DataFrame  # TRADE_COLUMNS
    notes: dict[str, str] = field(default_factory=dict)  # section -> why it is empty


def hardest_properties(difficulty: pd.DataFrame, canonical: list[str], k: int = 5) -> pd.DataFrame:
    """The ``k`` hardest canonical values with a threshold (all values when none of them has one)."""
    rows = difficulty[difficulty["property"].isin(canonical)]
    return (rows if not rows.empty else difficulty).head(k).reset_index(drop=True)


def _member_scores(errors: pd.DataFrame, met: pd.DataFrame, props: list[str]) -> tuple[pd.Series, str]:
    thresholded = [p for p in props if p in met.columns]
    if thresholded:
        return met[thresholded].mean(axis=1), SHARE_MEASURE
    return percentiles(errors[props]).fillna(100.0).mean(axis=1), PERCENTILE_MEASURE


def _bootstrap_means(scores: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_bootstrap`` resamples of ``scores`` (no resample: one NaN, so no interval is claimed)."""
    if n_bootstrap < 1 or len(scores) == 0:
        return np.array([np.nan])
    return scores[bootstrap_indices(len(scores), len(scores), n_bootstrap, rng)].mean(axis=1)


def category_scores(
    errors: pd.DataFrame,
    types: pd.Series,
    met: pd.DataFrame,
    canonical: list[str],
    *,
    min_type_members: int,
    n_bootstrap: int,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(score per category and type, best type per category); see the module doc."""
    rng = np.random.default_rng(seed)
    categories: dict[str, list[str]] = {}
    for name in canonical:
        categories.setdefault(property_category(name), []).append(name)
    score_rows, best_rows = [], []
    for category, props in categories.items():
        member, measure = _member_scores(errors, met, props)
        sign = 1.0 if measure == SHARE_MEASURE else -1.0
        boots: dict[str, np.ndarray] = {}
        rows = []
        for name in sorted(types.unique()):
            values = member[types == name].to_numpy(dtype=float)
            boots[name] = _bootstrap_means(values, n_bootstrap, rng)
            _, low, high = percentile_summary(boots[name])
            few = len(values) < min_type_members
            rows.append([category, name, len(values), len(props), measure, values.mean(), low, high, few])
        frame = pd.DataFrame(rows, columns=SCORE_COLUMNS[:-1])
        eligible = ~frame["too_few_members"]
        frame["rank"] = (sign * frame["score"])[eligible].rank(ascending=False, method="min")
        score_rows.append(frame)
        best_rows.append(_best_row(frame, boots, sign))
    scores = pd.concat(score_rows, ignore_index=True) if score_rows else pd.DataFrame(columns=SCORE_COLUMNS)
    return scores, pd.DataFrame(best_rows, columns=BEST_COLUMNS)


def _best_row(frame: pd.DataFrame, boots: dict[str, np.ndarray], sign: float) -> dict:
    """The best ranked type of one category, its runner-up and the bootstrap interval of the advantage."""
    ranked = frame.dropna(subset=["rank"]).sort_values(["rank", "type"])
    few = frame[frame["too_few_members"]]
    row = dict.fromkeys(BEST_COLUMNS, np.nan)
    row.update(
        category=frame["category"].iloc[0],
        n_properties=int(frame["n_properties"].iloc[0]),
        measure=frame["measure"].iloc[0],
        too_few_members=", ".join(f"{t} ({n})" for t, n in zip(few["type"], few["n_members"], strict=True)),
    )
    if ranked.empty:
        row.update(best_type="", runner_up="", verdict="no type has enough members to be ranked")
        return row
    best = ranked.iloc[0]
    row.update(best_type=best["type"], best_score=best["score"], best_ci_low=best["ci_low"])
    row.update(best_ci_high=best["ci_high"], best_n=int(best["n_members"]), runner_up="")
    if len(ranked) < 2:
        row["verdict"] = "only one type has enough members to be ranked"
        return row
    second = ranked.iloc[1]
    advantage = sign * (boots[best["type"]] - boots[second["type"]])
    _, low, high = percentile_summary(advantage)
    row.update(runner_up=second["type"], runner_up_score=second["score"], runner_up_n=int(second["n_members"]))
    row.update(advantage=sign * (best["score"] - second["score"]), advantage_ci_low=low, advantage_ci_high=high)
    row["verdict"] = "clearly best" if low > 0 else "not distinguishable from the runner-up"
    return row


def trade_offs(
    values: pd.DataFrame, correlation: CorrelationResult, *, k: int = 3, n_bootstrap: int, seed: int
) -> pd.DataFrame:
    """The ``k`` most negative (trade-offs) and ``k`` most positive correlations between the columns of ``values``
    (the graph's canonical values), each with its bootstrap interval and n."""
    matrix = correlation.pearson if correlation.method == "pearson" else correlation.spearman
    basis = values if correlation.method == "pearson" else values.rank()
    names = [n for n in matrix.columns if n in values.columns]
    pairs = [
        (matrix.loc[a, b], a, b) for i, a in enumerate(names) for b in names[i + 1 :] if np.isfinite(matrix.loc[a, b])
    ]
    pairs.sort()
    negative = [p for p in pairs if p[0] < 0][:k]
    positive = [p for p in reversed(pairs) if p[0] > 0][:k]
    rng = np.random.default_rng(seed)
    rows = []
    for kind, chosen in (("trade-off (negative)", negative), ("go together (positive)", positive)):
        for r, a, b in chosen:
            data = basis[[a, b]].dropna().to_numpy(dtype=float)
            weights = rng.multinomial(len(data), np.full(len(data), 1.0 / len(data)), size=n_bootstrap)
            samples = [weighted_correlation(data, w.astype(float))[0, 1] for w in weights] or [np.nan]
            _, low, high = percentile_summary(np.asarray(samples))
            rows.append([kind, a, b, float(r), low, high, len(data)])
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)
