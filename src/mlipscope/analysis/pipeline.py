"""``run_all``: every analysis on one error table, in order, as typed results (no plotting here).

NaN policy (failed evaluations): models with no successful evaluation at all (failed fits) are left out; a property
with more than ``max_nan_fraction`` failed models is dropped from every analysis (listed in ``dropped_properties``),
and so is a property whose errors do not vary; thresholds count a failed model as not meeting; distributions and
correlations use what is there (pairwise-complete); Pareto, Lasso and clustering use only the models with no NaN in
the remaining properties (the count left out is reported).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from threadpoolctl import threadpool_limits

from mlipscope.analysis import transforms
from mlipscope.analysis.clustering import ClusteringResult, cluster_models
from mlipscope.analysis.config import AnalysisConfig
from mlipscope.analysis.correlation import CorrelationResult, correlation_graph
from mlipscope.analysis.distributions import DistributionResult, summarize_distributions
from mlipscope.analysis.pareto import ParetoResult, analyse_pareto
from mlipscope.analysis.prediction import PredictionResult, prediction_graph
from mlipscope.analysis.selection import SelectionResult, select_models
from mlipscope.analysis.table import ErrorTable, nan_fraction
from mlipscope.analysis.thresholds import ThresholdResult, evaluate_thresholds
from mlipscope.errors import InputError


@dataclass
class AnalysisResults:
    table: ErrorTable  # the analysed table (dropped properties removed)
    config: AnalysisConfig
    transformed: pd.DataFrame  # config.transform of the errors (correlation, prediction, clustering)
    dropped_properties: dict[str, str] = field(default_factory=dict)  # name -> reason
    notes: list[str] = field(default_factory=list)
    thresholds: ThresholdResult | None = None
    distributions: DistributionResult | None = None
    correlation: CorrelationResult | None = None
    pareto: ParetoResult | None = None
    prediction: PredictionResult | None = None
    clustering: ClusteringResult | None = None
    selection: SelectionResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Headline numbers (for logs, the CLI and the report's first table)."""
        out: dict[str, Any] = {
            "models": len(self.table.errors),
            "properties analysed": len(self.table.properties),
            "properties dropped": len(self.dropped_properties),
            "MLIP types": ", ".join(self.table.type_names),
        }
        if self.correlation is not None:
            out["correlation components"] = len(self.correlation.components)
            edges = self.correlation.edges
            out["correlation edges (bootstrap-confident)"] = f"{len(edges)} ({int(edges['confident'].sum())})"
            out["representative properties"] = len(self.correlation.representatives)
        if self.pareto is not None:
            out["Pareto objectives"] = ", ".join(self.pareto.objectives)
            out["Pareto-optimal models (objectives)"] = int(self.pareto.optimal.sum())
            out["Pareto-optimal models (all properties)"] = int(self.pareto.optimal_all.sum())
        if self.prediction is not None and len(self.prediction.r2):
            out["properties predictable (R² ≥ threshold)"] = int(
                (self.prediction.r2["r2_mean"] >= self.config.lasso.r2_threshold).sum()
            )
        return out


def select_properties(table: ErrorTable, config: AnalysisConfig) -> tuple[ErrorTable, dict[str, str]]:
    """Apply the property subset and drop properties with too many failures or no spread."""
    names = table.properties
    if config.properties is not None:
        missing = [p for p in config.properties if p not in names]
        if missing:
            raise InputError(table.source, "analysis.properties", "names of error-table columns", got=missing)
        names = list(config.properties)
    dropped: dict[str, str] = {}
    failed = nan_fraction(table.errors[names])
    for name in names:
        column = table.errors[name].abs().dropna()
        if column.empty:  # typically a value with no reference (no error to analyse), not a failure
            dropped[name] = "no error for any model (no reference value, or every evaluation failed)"
        elif failed[name] > config.max_nan_fraction:
            dropped[name] = f"{failed[name]:.0%} failed evaluations (> {config.max_nan_fraction:.0%})"
        elif column.nunique() < 2:
            dropped[name] = "the same error for every model"
    return table.subset([n for n in names if n not in dropped]), dropped


def _with_type_column(table: ErrorTable, type_column: str) -> ErrorTable:
    """Group models by ``type_column`` (e.g. ``training_set_name``) when the config names a metadata column."""
    if type_column in table.metadata.columns:
        types = table.metadata[type_column].astype(str).rename("type")
        return ErrorTable(table.errors, table.metadata, types, table.source)
    if type_column != "family":
        raise InputError(
            table.source, "analysis.type_column", f"a metadata column of the table {list(table.metadata.columns)}"
        )
    return table


def run_all(table: ErrorTable, config: AnalysisConfig | None = None, *, show_progress: bool = True) -> AnalysisResults:
    """Run every analysis; steps that the data cannot support (too few models/properties) are skipped with a note."""
    config = config or AnalysisConfig()
    table = _with_type_column(table, config.type_column)
    empty = table.errors.isna().all(axis=1)
    if empty.all():
        raise InputError(table.source, "error values", "at least one model with a successful evaluation")
    if empty.any():  # e.g. failed fits exported as all-NaN rows: they would only inflate every NaN fraction
        keep = ~empty
        table = ErrorTable(table.errors[keep], table.metadata[keep], table.types[keep], table.source)
    table, dropped = select_properties(table, config)
    errors = table.errors
    transformed = transforms.apply(config.transform, errors, config.reference_values)
    results = AnalysisResults(table=table, config=config, transformed=transformed, dropped_properties=dropped)
    if empty.any():
        results.notes.append(f"{int(empty.sum())} models with no successful evaluation (e.g. failed fits) left out")
    results.notes += [f"property {name!r} dropped: {why}" for name, why in dropped.items()]
    ignored = sorted(set(config.thresholds) - set(errors.columns) - set(dropped))
    if ignored:
        results.notes.append(f"thresholds for unknown properties ignored: {ignored}")
    n_complete = int(errors.notna().all(axis=1).sum())
    if n_complete < len(errors):
        results.notes.append(
            f"{len(errors) - n_complete} of {len(errors)} models have a failed evaluation: left out of the Pareto, "
            "Lasso and clustering analyses (correlations are pairwise-complete)"
        )
    steps: list[tuple[str, Callable[[AnalysisResults], None]]] = [
        ("thresholds", _thresholds),
        ("distributions", _distributions),
        ("correlation graph", _correlation),
        ("Pareto fronts", _pareto),
        ("prediction graph", _prediction),
        ("clustering", _clustering),
        ("model selection", _selection),
    ]
    console = Console(stderr=True)
    # The matrices here are small (models x ~60): multi-threaded BLAS only adds overhead, and on a loaded machine
    # spinning BLAS threads slow a 2300 x 60 product down a hundredfold. One thread is faster and predictable.
    with (
        threadpool_limits(limits=1, user_api="blas"),
        Progress(
            TextColumn("[bold]analysis: {task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not show_progress or not console.is_terminal,  # bars in a log file are blank lines
        ) as progress,
    ):
        task = progress.add_task("start", total=len(steps))
        for name, step in steps:
            progress.update(task, description=name)
            start = time.perf_counter()
            step(results)
            results.timings_s[name] = time.perf_counter() - start
            progress.advance(task)
    return results


def _thresholds(results: AnalysisResults) -> None:
    table = results.table
    results.thresholds = evaluate_thresholds(table.errors, table.types, results.config.thresholds)
    sources = results.config.threshold_sources
    results.thresholds.difficulty["source"] = [sources.get(p, "") for p in results.thresholds.difficulty["property"]]
    if not results.thresholds.thresholds:
        results.notes.append("no thresholds given: no pass shares or difficulty ranking")


def _distributions(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    values = transforms.apply(cfg.distribution_transform, table.errors, cfg.reference_values)
    results.distributions = summarize_distributions(values, table.types, cfg.distribution_transform)


def _correlation(results: AnalysisResults) -> None:
    cfg = results.config
    if results.transformed.shape[1] < 2 or len(results.transformed) < 3:
        results.notes.append("correlation graph skipped: needs at least 2 properties and 3 models")
        return
    results.correlation = correlation_graph(
        results.transformed,
        method=cfg.correlation_method,
        r2_threshold=cfg.r2_threshold,
        n_bootstrap=cfg.n_bootstrap,
        edge_confidence=cfg.edge_confidence,
        seed=cfg.seed,
    )


def pareto_objectives(results: AnalysisResults) -> list[str]:
    """Configured objectives, else the representative properties (most central first), else the first columns."""
    cfg, names = results.config, results.table.properties
    if cfg.pareto_properties:
        missing = [p for p in cfg.pareto_properties if p not in names]
        if missing:
            raise InputError(
                results.table.source, "analysis.pareto_properties", "analysed error-table columns", got=missing
            )
        return list(cfg.pareto_properties)
    chosen = list(results.correlation.representatives) if results.correlation else []
    chosen += [n for n in names if n not in chosen]
    return chosen[: max(2, cfg.max_pareto_objectives)]


def _pareto(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    n_complete = int(table.errors.notna().all(axis=1).sum())
    if len(table.properties) < 2 or n_complete < 2:
        results.notes.append("Pareto analysis skipped: needs at least 2 properties and 2 complete models")
        return
    if cfg.null_correlations is not None:
        rhos = list(cfg.null_correlations)
    else:
        observed = results.correlation.mean_offdiagonal_r if results.correlation else 0.0
        rhos = sorted({0.0, round(float(np.clip(observed, 0.0, 0.95)), 2)})
    results.pareto = analyse_pareto(
        table.errors,
        table.types,
        pareto_objectives(results),
        k_values=cfg.pareto_k_values,
        null_rhos=rhos,
        repeats=cfg.null_repeats,
        seed=cfg.seed,
    )


def _prediction(results: AnalysisResults) -> None:
    if results.transformed.shape[1] < 2:
        results.notes.append("prediction graph skipped: needs at least 2 properties")
        return
    results.prediction = prediction_graph(results.transformed, results.config.lasso, seed=results.config.seed)
    if results.prediction.n_models < 10:
        results.notes.append("prediction graph empty: needs at least 10 models without failed evaluations")


def _clustering(results: AnalysisResults) -> None:
    cfg = results.config
    if results.pareto is None:
        return
    optimal = results.pareto.optimal[results.pareto.optimal].index
    values = results.transformed.loc[optimal].dropna(axis=1, how="all")
    results.clustering = cluster_models(
        values,
        results.table.hyperparameters(),
        n_neighbors=cfg.cluster_neighbors,
        resolution=cfg.louvain_resolution,
        c=cfg.logistic_c,
        seed=cfg.seed,
    )
    if results.clustering is None:
        results.notes.append(f"clustering skipped: only {len(optimal)} Pareto-optimal models")


def _selection(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    met = results.thresholds.met if results.thresholds else pd.DataFrame(index=table.errors.index)
    results.selection = select_models(table.errors, table.types, met, cfg.selection_metrics, cfg.n_selected)
    if results.selection.ignored_metrics:
        results.notes.append(f"selection metrics not in the table: {results.selection.ignored_metrics}")
