"""``run_all``: every analysis on one error table, in order, as typed results (no plotting here).

NaN policy (failed evaluations): models with no successful evaluation at all (failed fits) are left out; a property
with more than ``max_nan_fraction`` failed models is dropped from every analysis (listed in ``dropped_properties``),
and so is a property whose errors do not vary; thresholds count a failed model as not meeting; distributions and
correlations use what is there (pairwise-complete); Pareto, Lasso and clustering use only the models with no NaN in
the remaining properties (the count left out is reported).

One value per property: the correlation graph, Pareto fronts, Lasso graph and clustering see the ``canonical``
values (:mod:`.canonical`); thresholds, distributions and selection see every value. Minimum sizes: an analysis
the data cannot support is not run, and ``skipped`` says why (shown in the notes and the report's sections).
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

from mlipscope.analysis import findings as find
from mlipscope.analysis import transforms
from mlipscope.analysis.canonical import canonical_values
from mlipscope.analysis.clustering import ClusteringResult, cluster_models
from mlipscope.analysis.config import AnalysisConfig
from mlipscope.analysis.correlation import CorrelationResult, correlation_graph
from mlipscope.analysis.distributions import DistributionResult, summarize_distributions
from mlipscope.analysis.pareto import ParetoResult, analyse_pareto
from mlipscope.analysis.prediction import PredictionResult, prediction_graph
from mlipscope.analysis.selection import SelectionResult, select_models
from mlipscope.analysis.table import ErrorTable, nan_fraction
from mlipscope.analysis.thresholds import ThresholdResult, evaluate_thresholds
from mlipscope.analysis.type_graphs import TypeGraphs, type_correlation_graphs
from mlipscope.errors import InputError


@dataclass
class AnalysisResults:
    table: ErrorTable  # the analysed table (dropped properties removed)
    config: AnalysisConfig
    transformed: pd.DataFrame  # config.transform of the errors (correlation, prediction, clustering)
    dropped_properties: dict[str, str] = field(default_factory=dict)  # name -> reason
    canonical: list[str] = field(default_factory=list)  # the values the multi-property analyses see
    not_canonical: dict[str, str] = field(default_factory=dict)  # analysed value left out of them -> why
    skipped: dict[str, str] = field(default_factory=dict)  # analysis -> why it is empty (minimum sizes, ...)
    notes: list[str] = field(default_factory=list)
    thresholds: ThresholdResult | None = None
    distributions: DistributionResult | None = None
    correlation: CorrelationResult | None = None
    pareto: ParetoResult | None = None
    prediction: PredictionResult | None = None
    clustering: ClusteringResult | None = None
    selection: SelectionResult | None = None
    type_graphs: TypeGraphs | None = None
    findings: find.Findings | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def canonical_values(self) -> pd.DataFrame:
        """The transformed canonical values (models x values): what the multi-property analyses see."""
        return self.transformed[self.canonical]

    def summary(self) -> dict[str, Any]:
        """Headline numbers (for logs, the CLI and the report's first table)."""
        sizes = self.table.types.value_counts().sort_index()
        few = self.config.min_type_members
        out: dict[str, Any] = {
            "models": len(self.table.errors),
            "properties analysed": len(self.table.properties),
            "properties dropped": len(self.dropped_properties),
            "values in the multi-property analyses (one per property)": len(self.canonical),
            "MLIP types (members)": ", ".join(
                f"{t} ({n}{', too few members' if n < few else ''})" for t, n in sizes.items()
            ),
        }
        if self.correlation is not None:
            out["correlation components"] = len(self.correlation.components)
            edges = self.correlation.edges
            confident = f"bootstrap-confident: share of resamples >= {self.config.edge_confidence}"
            out[f"correlation edges ({confident})"] = f"{len(edges)} ({int(edges['confident'].sum())})"
            out["representative properties"] = len(self.correlation.representatives)
        elif "correlation graph" in self.skipped:
            out["correlation graph"] = "not computed: " + self.skipped["correlation graph"]
        if self.pareto is not None:
            out["Pareto objectives"] = ", ".join(self.pareto.objectives)
            out["Pareto-optimal models (objectives)"] = int(self.pareto.optimal.sum())
            out["Pareto-optimal models (all canonical values)"] = int(self.pareto.optimal_all.sum())
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


def choose_canonical(
    table: ErrorTable, config: AnalysisConfig, dropped: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """(the values the multi-property analyses see, analysed value left out -> why): ``canonical_properties``
    when given, else one value per property (``canonical_only``), else every analysed value."""
    names = table.properties
    if config.canonical_properties is not None:
        unknown = [p for p in config.canonical_properties if p not in names and p not in dropped]
        if unknown:
            raise InputError(table.source, "analysis.canonical_properties", "analysed error-table columns", got=unknown)
        kept = [p for p in config.canonical_properties if p in names]
        return kept, {n: "not in analysis.canonical_properties" for n in names if n not in kept}
    if not config.canonical_only:
        return list(names), {}
    return canonical_values(names)


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
    results.canonical, results.not_canonical = choose_canonical(table, config, dropped)
    _initial_notes(results, empty)
    steps: list[tuple[str, Callable[[AnalysisResults], None]]] = [
        ("thresholds", _thresholds),
        ("distributions", _distributions),
        ("correlation graph", _correlation),
        ("per-type correlation graphs", _type_graphs),
        ("Pareto fronts", _pareto),
        ("prediction graph", _prediction),
        ("clustering", _clustering),
        ("model selection", _selection),
        ("findings", _findings),
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


def _initial_notes(results: AnalysisResults, empty: pd.Series) -> None:
    errors, config = results.table.errors, results.config
    if empty.any():
        results.notes.append(f"{int(empty.sum())} models with no successful evaluation (e.g. failed fits) left out")
    results.notes += [f"property {name!r} dropped: {why}" for name, why in results.dropped_properties.items()]
    ignored = sorted(set(config.thresholds) - set(errors.columns) - set(results.dropped_properties))
    if ignored:
        results.notes.append(f"thresholds for unknown properties ignored: {ignored}")
    if results.not_canonical:
        results.notes.append(
            f"{len(results.canonical)} of {errors.shape[1]} values (one per property) enter the correlation, Pareto, "
            f"Lasso and clustering analyses; the other {len(results.not_canonical)} (MAE, per-config-type and other "
            "variants) stay in the difficulty table and distributions (tables/canonical_values.csv)"
        )
    n_complete = int(errors[results.canonical].notna().all(axis=1).sum())
    if n_complete < len(errors):
        results.notes.append(
            f"{len(errors) - n_complete} of {len(errors)} models have a failed evaluation: left out of the Pareto, "
            "Lasso and clustering analyses (correlations are pairwise-complete)"
        )


def _skip(results: AnalysisResults, analysis: str, why: str) -> None:
    """Record why ``analysis`` is empty (shown in its report section) and add it to the notes."""
    results.skipped[analysis] = why
    results.notes.append(f"{analysis} not computed: {why}")


def _thresholds(results: AnalysisResults) -> None:
    table, cfg = results.table, results.config
    results.thresholds = evaluate_thresholds(table.errors, table.types, cfg.thresholds, cfg.min_type_members)
    sources = cfg.threshold_sources
    results.thresholds.difficulty["source"] = [sources.get(p, "") for p in results.thresholds.difficulty["property"]]
    if not results.thresholds.thresholds:
        results.notes.append("no thresholds given: no pass shares or difficulty ranking")
    few = [t for t, n in table.types.value_counts().sort_index().items() if n < cfg.min_type_members]
    if few:
        results.notes.append(
            f"types with fewer than {cfg.min_type_members} members (analysis.min_type_members) are shown but marked "
            f"'too few members' and never ranked: {', '.join(few)}"
        )


def _distributions(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    values = transforms.apply(cfg.distribution_transform, table.errors, cfg.reference_values)
    results.distributions = summarize_distributions(values, table.types, cfg.distribution_transform)


def _graph_settings(cfg: AnalysisConfig) -> dict[str, Any]:
    return {
        "method": cfg.correlation_method,
        "r2_threshold": cfg.r2_threshold,
        "n_bootstrap": cfg.n_bootstrap,
        "edge_confidence": cfg.edge_confidence,
        "seed": cfg.seed,
    }


def _correlation(results: AnalysisResults) -> None:
    cfg = results.config
    values = results.canonical_values
    n_models = int((values.notna().sum(axis=1) >= 2).sum())
    if values.shape[1] < 2:
        _skip(results, "correlation graph", "needs at least 2 properties")
    elif n_models < cfg.min_models_correlation:
        _skip(
            results,
            "correlation graph",
            f"{n_models} models, fewer than the {cfg.min_models_correlation} it needs "
            f"(analysis.min_models_correlation): with so few, unrelated properties pass r² > {cfg.r2_threshold} "
            "by chance, so no edges are drawn",
        )
    else:
        results.correlation = correlation_graph(values, **_graph_settings(cfg))


def _type_graphs(results: AnalysisResults) -> None:
    cfg, types = results.config, results.table.types
    if results.correlation is None or types.nunique() < 2:
        return
    results.type_graphs = type_correlation_graphs(
        results.canonical_values,
        types,
        min_models=max(cfg.min_models_correlation, cfg.min_type_members),
        overall=results.correlation,
        **_graph_settings(cfg),
    )
    if not results.type_graphs.graphs:
        _skip(results, "per-type correlation graphs", "no type has enough members: " + _reasons(results.type_graphs))


def _reasons(graphs: TypeGraphs) -> str:
    return "; ".join(f"{t}: {why}" for t, why in graphs.skipped.items())


def pareto_objectives(results: AnalysisResults) -> list[str]:
    """Configured objectives, else the representative properties (most central first), else the first canonical
    values."""
    cfg, names = results.config, results.table.properties
    if cfg.pareto_properties:
        missing = [p for p in cfg.pareto_properties if p not in names]
        if missing:
            raise InputError(
                results.table.source, "analysis.pareto_properties", "analysed error-table columns", got=missing
            )
        return list(cfg.pareto_properties)
    chosen = list(results.correlation.representatives) if results.correlation else []
    chosen += [n for n in results.canonical if n not in chosen]
    return chosen[: max(2, cfg.max_pareto_objectives)]


def _pareto(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    objectives = pareto_objectives(results)
    columns = results.canonical + [o for o in objectives if o not in results.canonical]
    errors = table.errors[columns]
    n_complete = int(errors.notna().all(axis=1).sum())
    if len(columns) < 2 or n_complete < 2:
        _skip(results, "Pareto fronts", "needs at least 2 properties and 2 models without a failed evaluation")
        return
    if cfg.null_correlations is not None:
        rhos = list(cfg.null_correlations)
    else:
        observed = results.correlation.mean_offdiagonal_r if results.correlation else 0.0
        rhos = sorted({0.0, round(float(np.clip(observed, 0.0, 0.95)), 2)})
    results.pareto = analyse_pareto(
        errors,
        table.types,
        objectives,
        k_values=cfg.pareto_k_values,
        null_rhos=rhos,
        repeats=cfg.null_repeats,
        seed=cfg.seed,
        min_type_members=cfg.min_type_members,
        n_subsamples=cfg.n_bootstrap,
    )


def _prediction(results: AnalysisResults) -> None:
    cfg = results.config
    values = results.canonical_values
    if values.shape[1] < 2:
        _skip(results, "prediction graph", "needs at least 2 properties")
        return
    results.prediction = prediction_graph(values, cfg.lasso, seed=cfg.seed, min_models=cfg.min_models_prediction)
    if results.prediction.r2.empty:
        _skip(
            results,
            "prediction graph",
            f"{results.prediction.n_models} models without a failed evaluation, fewer than the "
            f"{cfg.min_models_prediction} it needs (analysis.min_models_prediction)",
        )


def _clustering(results: AnalysisResults) -> None:
    cfg = results.config
    if results.pareto is None:
        return
    optimal = results.pareto.optimal[results.pareto.optimal].index
    values = results.canonical_values.loc[optimal].dropna(axis=1, how="all")
    results.clustering = cluster_models(
        values,
        results.table.hyperparameters(),
        n_neighbors=cfg.cluster_neighbors,
        resolution=cfg.louvain_resolution,
        c=cfg.logistic_c,
        seed=cfg.seed,
        min_models=cfg.min_models_clustering,
    )
    if results.clustering is None:
        _skip(
            results,
            "clustering",
            f"{len(optimal)} Pareto-optimal models, fewer than the {cfg.min_models_clustering} it needs "
            "(analysis.min_models_clustering)",
        )


def _selection(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    met = results.thresholds.met if results.thresholds else pd.DataFrame(index=table.errors.index)
    results.selection = select_models(
        table.errors,
        table.types,
        met,
        cfg.selection_metrics,
        cfg.n_selected,
        n_bootstrap=cfg.n_bootstrap,
        seed=cfg.seed,
        min_models=cfg.min_models_selection,
    )
    if results.selection.ignored_metrics:
        results.notes.append(f"selection metrics not in the table: {results.selection.ignored_metrics}")
    if results.selection.verdict_note:
        results.skipped["selection verdict"] = results.selection.verdict_note


def _findings(results: AnalysisResults) -> None:
    cfg, table = results.config, results.table
    th = results.thresholds
    met = th.met if th is not None else pd.DataFrame(index=table.errors.index)
    scores, best = find.category_scores(
        table.errors,
        table.types,
        met,
        results.canonical,
        min_type_members=cfg.min_type_members,
        n_bootstrap=cfg.n_bootstrap,
        seed=cfg.seed,
    )
    notes: dict[str, str] = {}
    if results.correlation is not None:
        trade = find.trade_offs(
            results.canonical_values, results.correlation, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed
        )
    else:
        trade = pd.DataFrame(columns=find.TRADE_COLUMNS)
        notes["trade-offs"] = results.skipped.get("correlation graph", "no correlation graph")
    hardest = find.hardest_properties(th.difficulty, results.canonical) if th is not None else pd.DataFrame()
    if hardest.empty:
        notes["hardest"] = "no thresholds given (analysis setting thresholds)"
    results.findings = find.Findings(
        n_models=len(table.errors),
        type_sizes={str(t): int(n) for t, n in table.types.value_counts().sort_index().items()},
        min_type_members=cfg.min_type_members,
        hardest=hardest,
        type_scores=scores,
        best_by_category=best,
        trade_offs=trade,
        notes=notes,
    )
