"""Model selection: the models meeting the most thresholds, and the models a chosen metric would pick.

"How a selected model scores elsewhere" is its percentile among all models in every other property (0 = best,
100 = worst; NaN = failed evaluation). A metric whose picks sit near 0 everywhere is a good selection criterion; one
whose picks scatter around 50 selects for itself only. :func:`compare_selections` puts the picks of several metrics
side by side in absolute terms (median |error| and share within threshold per property), e.g. the rare-event force
metrics against the conventional force RMSE (Liu, He & Mo 2023: selecting by RE metrics picks better barriers).

Default metrics (``selection_metrics`` unset): every rare-event RE_F / RE_A column and every dataset force RMSE
(:func:`default_selection_metrics`).

The verdict (:func:`re_vs_rmse_verdict`): for each barrier / defect-energy property and each (RE metric, force-RMSE
metric) pair, the difference of the median |error| of the two metrics' ``n`` picks, with a bootstrap interval
(resample the models with replacement, pick again, B times; 2.5 / 97.5 percentiles) and the number of models behind
it. "RE better" needs the whole interval below 0, "RMSE better" above 0; otherwise "no clear difference". Each pair
is its own comparison: with many pairs, about 1 in 20 excludes 0 by chance. Below ``min_models`` models there is no
verdict, and no summary or comparison of the picks either (the picks are then much of the ensemble).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlipscope.analysis.uncertainty import bootstrap_indices, percentile_summary

TARGET_SUFFIXES = (".barrier_ev", ".formation_energy_ev")
VERDICT_COLUMNS = [
    "target",
    "re_metric",
    "rmse_metric",
    "n_models",
    "n_selected",
    "re_median_abs_error",
    "rmse_median_abs_error",
    "all_median_abs_error",
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "verdict",
]


@dataclass(frozen=True)
class SelectionResult:
    most_thresholds: pd.DataFrame  # model_id, type, n_met, n_thresholds, n_failed, mean_percentile (best first)
    by_metric: dict[str, pd.DataFrame]  # metric -> selected models x properties (percentile in each property)
    metric_summary: pd.DataFrame  # metric x property: median percentile of the metric's picks
    ignored_metrics: list[str]
    comparison: pd.DataFrame | None = None  # see compare_selections
    verdict: pd.DataFrame | None = None  # see re_vs_rmse_verdict (VERDICT_COLUMNS)
    verdict_note: str = ""  # why there is no verdict


def percentiles(errors: pd.DataFrame) -> pd.DataFrame:
    """Each model's percentile (0 best .. 100 worst) of |error| per property among the models evaluated."""
    return errors.abs().rank(method="average", pct=True) * 100.0


def rank_by_thresholds(met: pd.DataFrame, errors: pd.DataFrame, types: pd.Series, n: int) -> pd.DataFrame:
    """Top ``n`` models by number of thresholds met; ties broken by mean percentile over all properties."""
    mean_percentile = percentiles(errors).mean(axis=1)
    table = pd.DataFrame(
        {
            "type": types,
            "n_met": met.sum(axis=1).astype(int) if met.shape[1] else 0,
            "n_thresholds": met.shape[1],
            "n_failed": errors.isna().sum(axis=1).astype(int),
            "mean_percentile": mean_percentile.round(2),
        },
        index=errors.index,
    )
    table = table.sort_values(["n_met", "mean_percentile"], ascending=[False, True]).head(n)
    return table.rename_axis("model_id").reset_index()


def select_by_metrics(errors: pd.DataFrame, metrics: list[str], n: int) -> tuple[dict, pd.DataFrame, list[str]]:
    """For each metric: the ``n`` models with the lowest |error| in it, and their percentiles in every property."""
    ranks = percentiles(errors)
    used = [m for m in metrics if m in errors.columns]
    by_metric = {}
    summary = {}
    for metric in used:
        picked = errors[metric].abs().dropna().nsmallest(n).index
        table = ranks.loc[picked]
        by_metric[metric] = table
        summary[metric] = table.drop(columns=metric).median()
    metric_summary = pd.DataFrame(summary).T if summary else pd.DataFrame()
    return by_metric, metric_summary, sorted(set(metrics) - set(used))


def default_selection_metrics(columns) -> list[str]:
    """Rare-event metrics (``<re label>.re_f_ev_a``, ``.re_a``) and whole-set force RMSEs (``<label>.force_rmse_ev_a``,
    not the per-config-type columns) present in ``columns``: the two ways of choosing a model the seed papers
    compare."""
    re_metrics = [c for c in columns if c.endswith((".re_f_ev_a", ".re_a"))]
    rmse = [c for c in columns if c.count(".") == 1 and c.endswith(".force_rmse_ev_a") and c not in re_metrics]
    return re_metrics + rmse


def compare_selections(errors: pd.DataFrame, met: pd.DataFrame, by_metric: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per (selection metric, property): the picks' median |error| and share within the property's threshold, and
    the same for all models (metric ``all models``) as the baseline. A failed evaluation counts as not within."""
    groups = {"all models": errors.index, **{m: t.index for m, t in by_metric.items()}}
    rows = []
    for metric, picked in groups.items():
        for prop in errors.columns:
            if prop == metric:
                continue
            magnitude = errors.loc[picked, prop].abs()
            within = met.loc[picked, prop].mean() if prop in met.columns else float("nan")
            rows.append(
                {
                    "metric": metric,
                    "property": prop,
                    "n_models": len(picked),
                    "median_abs_error": magnitude.median(),
                    "share_within_threshold": within,
                }
            )
    return pd.DataFrame(rows, columns=["metric", "property", "n_models", "median_abs_error", "share_within_threshold"])


def split_re_rmse(metrics: list[str]) -> tuple[list[str], list[str]]:
    """(rare-event metrics, force-RMSE metrics) among ``metrics``."""
    re_metrics = [m for m in metrics if ".re_" in m]
    rmse = [m for m in metrics if m.endswith("force_rmse_ev_a") and ".re_" not in m]
    return re_metrics, rmse


def pick_medians(metric_abs: np.ndarray, target_abs: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Median |error| per target column of the ``n`` models among ``rows`` with the smallest metric (a model whose
    metric failed is not picked; a failed target is skipped in the median)."""
    rows = rows[np.isfinite(metric_abs[rows])]
    picked = rows[np.argsort(metric_abs[rows], kind="stable")[:n]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column: NaN
        return np.nanmedian(target_abs[picked], axis=0) if len(picked) else np.full(target_abs.shape[1], np.nan)


def re_vs_rmse_verdict(
    errors: pd.DataFrame, metrics: list[str], n: int, *, n_bootstrap: int, seed: int, min_models: int
) -> tuple[pd.DataFrame, str]:
    """(verdict table, VERDICT_COLUMNS; why it is empty, or "")."""
    empty = pd.DataFrame(columns=VERDICT_COLUMNS)
    re_metrics, rmse = split_re_rmse([m for m in metrics if m in errors.columns])
    targets = [c for c in errors.columns if c.endswith(TARGET_SUFFIXES) and c not in metrics]
    if not re_metrics or not rmse or not targets:
        return empty, "needs a rare-event metric, a force-RMSE metric and a barrier or defect-energy property"
    if len(errors) < min_models:
        return empty, f"{len(errors)} models: the verdict needs at least {min_models} (analysis.min_models_selection)"
    target_abs = errors[targets].abs().to_numpy()
    metric_abs = {m: errors[m].abs().to_numpy() for m in re_metrics + rmse}
    everyone = np.arange(len(errors))
    full = {m: pick_medians(a, target_abs, everyone, n) for m, a in metric_abs.items()}
    resamples = bootstrap_indices(len(errors), len(errors), n_bootstrap, np.random.default_rng(seed))
    nothing = np.full((1, len(targets)), np.nan)  # no resamples: no interval, so no verdict either way
    boot = {
        m: np.array([pick_medians(a, target_abs, r, n) for r in resamples]) if n_bootstrap else nothing
        for m, a in metric_abs.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a target no model evaluated: NaN
        baseline = np.nanmedian(target_abs, axis=0)
    rows = []
    for t, target in enumerate(targets):
        for re_metric in re_metrics:
            for rmse_metric in rmse:
                _, low, high = percentile_summary(boot[re_metric][:, t] - boot[rmse_metric][:, t])
                verdict = "RE better" if high < 0 else "RMSE better" if low > 0 else "no clear difference"
                rows.append(
                    [target, re_metric, rmse_metric, len(errors), n, full[re_metric][t], full[rmse_metric][t]]
                    + [baseline[t], full[re_metric][t] - full[rmse_metric][t], low, high, verdict]
                )
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS), ""


def select_models(
    errors: pd.DataFrame,
    types: pd.Series,
    met: pd.DataFrame,
    metrics: list[str] | None,
    n: int,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
    min_models: int = 30,
) -> SelectionResult:
    """``metrics`` None: :func:`default_selection_metrics`."""
    metrics = default_selection_metrics(errors.columns) if metrics is None else metrics
    most = rank_by_thresholds(met, errors, types, n)
    by_metric, summary, ignored = select_by_metrics(errors, metrics, n)
    comparison = compare_selections(errors, met, by_metric) if by_metric else None
    if len(errors) < min_models:  # the picks are most of the ensemble: their medians say nothing about the metric
        summary, comparison = pd.DataFrame(), None
    verdict, note = re_vs_rmse_verdict(errors, metrics, n, n_bootstrap=n_bootstrap, seed=seed, min_models=min_models)
    return SelectionResult(most, by_metric, summary, ignored, comparison, verdict, note)
