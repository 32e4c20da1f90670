"""Every analysis table as a CSV file under the report's ``tables/`` folder (the HTML shows only the first rows)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlipscope.analysis.pipeline import AnalysisResults


def analysis_tables(results: AnalysisResults) -> dict[str, pd.DataFrame]:
    """name -> DataFrame for every table the analyses produced (index kept where it carries names)."""
    out: dict[str, pd.DataFrame] = {}
    if results.thresholds is not None and not results.thresholds.difficulty.empty:
        out["difficulty"] = results.thresholds.difficulty.set_index("difficulty_rank")
        out["pass_share"] = results.thresholds.pass_share
    if results.distributions is not None:
        out["distributions"] = results.distributions.summary.set_index(["property", "type"])
    if results.correlation is not None:
        corr = results.correlation
        out["correlation_pearson"] = corr.pearson
        out["correlation_spearman"] = corr.spearman
        out["correlation_edges"] = corr.edges.set_index("source")
        out["correlation_pagerank"] = corr.pagerank.to_frame().assign(
            representative=lambda f: f.index.isin(corr.representatives)
        )
    if results.pareto is not None:
        pareto = results.pareto
        out["pareto_quality"] = pareto.quality.set_index("type")
        out["pareto_count_vs_k"] = pareto.count_vs_k.set_index("k")
        out["pareto_optimal"] = pd.concat([pareto.optimal, pareto.optimal_2d, pareto.optimal_all], axis=1)
    if results.prediction is not None:
        pred = results.prediction
        out["prediction_ranking"] = pred.ranking.set_index("property")
        out["prediction_r2"] = pred.r2
        out["prediction_coefficients"] = pred.coefficients.rename_axis("target")
    if results.clustering is not None:
        out["cluster_members"] = results.clustering.labels.to_frame()
        out["cluster_coefficients"] = results.clustering.coefficients
        out["cluster_explanation"] = results.clustering.explanation.set_index("community")
    if results.selection is not None:
        sel = results.selection
        out["selection"] = sel.most_thresholds.set_index("model_id")
        if sel.by_metric:
            out["selection_by_metric"] = pd.concat(sel.by_metric, names=["metric", "model_id"])
            out["selection_metric_summary"] = sel.metric_summary.rename_axis("metric")
        if sel.comparison is not None:
            out["selection_comparison"] = sel.comparison.set_index(["metric", "property"])
    if results.dropped_properties:
        out["dropped_properties"] = (
            pd.Series(results.dropped_properties, name="reason").rename_axis("property").to_frame()
        )
    return out


def export_tables(results: AnalysisResults, folder: Path) -> dict[str, str]:
    """Write every table as ``folder/<name>.csv``; return name -> path relative to the report folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in analysis_tables(results).items():
        frame.to_csv(folder / f"{name}.csv")
        written[name] = f"{folder.name}/{name}.csv"
    return written
