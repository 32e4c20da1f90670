"""Model selection: the models meeting the most thresholds, and the models a chosen metric would pick.

"How a selected model scores elsewhere" is its percentile among all models in every other property (0 = best,
100 = worst; NaN = failed evaluation). A metric whose picks sit near 0 everywhere is a good selection criterion; one
whose picks scatter around 50 selects for itself only. :func:`compare_selections` puts the picks of several metrics
side by side in absolute terms (median |error| and share within threshold per property), e.g. the rare-event force
metrics against the conventional force RMSE (Liu, He & Mo 2023: selecting by RE metrics picks better barriers).

Default metrics (``selection_metrics`` unset): every rare-event RE_F / RE_A column and every dataset force RMSE
(:func:`default_selection_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class SelectionResult:
    most_thresholds: pd.DataFrame  # model_id, type, n_met, n_thresholds, n_failed, mean_percentile (best first)
    by_metric: dict[str, pd.DataFrame]  # metric -> selected models x properties (percentile in each property)
    metric_summary: pd.DataFrame  # metric x property: median percentile of the metric's picks
    ignored_metrics: list[str]
    comparison: pd.DataFrame | None = None  # see compare_selections


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


def select_models(
    errors: pd.DataFrame, types: pd.Series, met: pd.DataFrame, metrics: list[str] | None, n: int
) -> SelectionResult:
    """``metrics`` None: :func:`default_selection_metrics`."""
    metrics = default_selection_metrics(errors.columns) if metrics is None else metrics
    most = rank_by_thresholds(met, errors, types, n)
    by_metric, summary, ignored = select_by_metrics(errors, metrics, n)
    comparison = compare_selections(errors, met, by_metric) if by_metric else None
    return SelectionResult(most, by_metric, summary, ignored, comparison)
