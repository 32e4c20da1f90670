"""``write_report``: a static HTML page (index.html) with the figures (PNG, figures/) and tables (CSV, tables/),
and a page per model (models/<model_id>.html, :mod:`mlipscope.report.model_pages`) linked from its tables.

Everything is local: no external CSS, scripts or fonts (the tables sort by an inline script), so the folder works
offline and can be copied as a whole."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.analysis.uncertainty import format_interval
from mlipscope.report import figures_errors, figures_graphs, figures_pareto
from mlipscope.report.difficulty_section import difficulty_section
from mlipscope.report.dynamics_section import DynamicsReport, draw_dynamics_figures, dynamics_section
from mlipscope.report.findings_section import findings_section
from mlipscope.report.labels import value_unit
from mlipscope.report.model_pages import MAX_FIGURE_MODELS, ModelReportData, model_index, write_model_pages
from mlipscope.report.tables import (
    ROW_UNIT,
    csv_link,
    export_tables,
    figure_html,
    html_page,
    html_table,
    with_unit_column,
)
from mlipscope.report.uncertainty_section import SECTION_TITLE as UNCERTAINTY_TITLE
from mlipscope.report.uncertainty_section import UncertaintyReport, uncertainty_section, write_uncertainty_outputs

FIGURES: list[tuple[str, str, Callable[[AnalysisResults], Figure | None]]] = [
    ("difficulty", "Difficulty", figures_errors.difficulty_figure),
    ("distributions", "Distributions", figures_errors.distribution_figure),
    ("pareto_front", "Pareto", figures_pareto.pareto_front_figure),
    ("pareto_count", "Pareto", figures_pareto.pareto_count_figure),
    ("front_quality", "Pareto", figures_pareto.front_quality_figure),
    ("correlation_matrix", "Correlation", figures_graphs.correlation_heatmap_figure),
    ("correlation_graph", "Correlation", figures_graphs.correlation_graph_figure),
    ("prediction", "Prediction", figures_graphs.prediction_figure),
    ("clusters", "Clusters", figures_graphs.cluster_figure),
]
MAX_ROWS = 25  # rows shown inline; the CSV has them all
MAX_INDEX_ROWS = 5000  # rows of the "all models" table shown inline (tables/models.csv has them all)


def write_report(
    results: AnalysisResults,
    out_dir: Path,
    *,
    title: str = "mlipscope report",
    run_summary: dict | None = None,
    cheaper_dft: pd.DataFrame | None = None,
    model_data: ModelReportData | None = None,
    max_figure_models: int = MAX_FIGURE_MODELS,
    dynamics: DynamicsReport | None = None,
    uncertainty: UncertaintyReport | None = None,
) -> Path:
    """Write index.html, figures/*.png, tables/*.csv and models/*.html under ``out_dir``; return the path of
    index.html. ``cheaper_dft``: the errors of cheaper DFT settings (:func:`mlipscope.properties.acceptable_errors`),
    shown beside the difficulty ranking. ``model_data``: the store's models, evaluations and details
    (:meth:`ModelReportData.from_store`) for the per-model pages; without it the pages show the error table's
    |errors| only. Property figures are drawn for at most ``max_figure_models`` models (see
    :mod:`mlipscope.report.model_pages`). ``dynamics``: the run's dynamics stage (RE- vs RMSE-selected models' MD
    diffusion and survival, :mod:`mlipscope.report.dynamics_section`). ``uncertainty``: the ensemble-disagreement
    section (:mod:`mlipscope.report.uncertainty_section`), built from ``model_data`` when not given."""
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    tables = export_tables(results, out_dir / "tables")
    if cheaper_dft is not None and not cheaper_dft.empty:
        cheaper_dft.to_csv(out_dir / "tables" / "cheaper_dft.csv", index=False)
        tables["cheaper_dft"] = "tables/cheaper_dft.csv"
    models = model_index(results, model_data)
    models.to_csv(out_dir / "tables" / "models.csv", index=False)
    tables["models"] = "tables/models.csv"
    drawn: dict[str, str] = {}
    with Progress(
        TextColumn("[bold]report: {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=(console := Console(stderr=True)),
        transient=True,
        disable=not console.is_terminal,  # in a log file, bars are only blank lines
    ) as progress:
        task = progress.add_task("figures", total=len(FIGURES))
        for key, _, draw in FIGURES:
            progress.update(task, description=key)
            figure = draw(results)
            if figure is not None:
                figure.savefig(out_dir / "figures" / f"{key}.png", dpi=110)
                drawn[key] = f"figures/{key}.png"
            progress.advance(task)
        if dynamics is not None:
            drawn.update(draw_dynamics_figures(dynamics, out_dir / "figures"))
            dynamics.comparison.to_csv(out_dir / "tables" / "dynamics_comparison.csv", index=False)
            tables["dynamics_comparison"] = "tables/dynamics_comparison.csv"
        if uncertainty is None and model_data is not None:
            progress.update(task, description="ensemble uncertainty")
            th = results.thresholds.thresholds if results.thresholds is not None else results.config.thresholds
            uncertainty = UncertaintyReport.from_model_data(model_data, th)
        if uncertainty is not None:
            more_figures, more_tables = write_uncertainty_outputs(uncertainty, out_dir)
            drawn.update(more_figures)
            tables.update(more_tables)
        progress.update(task, description="model pages")
        links = write_model_pages(
            results, out_dir, model_data, title=title, max_figure_models=max_figure_models, index=models
        )
    units = report_units(results.table.properties, model_data)
    page = _page(results, title, run_summary, drawn, tables, cheaper_dft, models, links, dynamics, uncertainty, units)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _page(
    results: AnalysisResults,
    title: str,
    run_summary: dict | None,
    drawn: dict[str, str],
    tables: dict[str, str],
    cheaper_dft: pd.DataFrame | None = None,
    models: pd.DataFrame | None = None,
    links: dict[str, str] | None = None,
    dynamics: DynamicsReport | None = None,
    uncertainty: UncertaintyReport | None = None,
    units: dict[str, str] | None = None,
) -> str:
    links = links or {}
    units = units if units is not None else report_units(results.table.properties, None)
    sections = [
        ("findings", "What the study found", findings_section(results, tables, units)),
        ("summary", "Summary", _summary(results, run_summary)),
        ("difficulty", "Difficulty ranking", difficulty_section(results, drawn, tables, cheaper_dft, units)),
        ("distributions", "Distributions", _figure(drawn, "distributions") + _csv_link(tables, "distributions")),
        ("pareto", "Pareto fronts", _pareto(results, drawn, tables, links)),
        ("correlation", "Correlation graph", _correlation(results, drawn, tables)),
        ("prediction", "Prediction graph", _prediction(results, drawn, tables)),
        ("clusters", "Clusters of optimal models", _clusters(results, drawn, tables)),
        ("selection", "Model selection", _selection(results, tables, links, units)),
        *(
            [("dynamics", "Dynamics: RE-selected vs RMSE-selected models", dynamics_section(dynamics, drawn, links))]
            if dynamics is not None
            else []
        ),
        *(
            [("uncertainty", UNCERTAINTY_TITLE, uncertainty_section(uncertainty, drawn, tables))]
            if uncertainty is not None
            else []
        ),
        ("models", "All models", _all_models(models, tables, links)),
        ("settings", "Settings", _kv_table(_settings(results))),
    ]
    nav = "".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name, _ in sections)
    body = "".join(f'<h2 id="{key}">{html.escape(name)}</h2>\n{content}\n' for key, name, content in sections)
    return html_page(title, f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}")


def report_units(names: list[str], model_data: ModelReportData | None) -> dict[str, str]:
    """Value name -> unit: the units the store's evaluations declare, else read from the name
    (:func:`mlipscope.report.labels.value_unit`)."""
    declared: dict[str, str] = {}
    evaluations = model_data.evaluations if model_data is not None else None
    if evaluations is not None and {"name", "unit"} <= set(evaluations.columns):
        known = evaluations.dropna(subset=["unit"])
        declared = {str(n): str(u) for n, u in zip(known["name"], known["unit"], strict=True) if str(u)}
    return {n: value_unit(n, declared) for n in names}


def _skipped(results: AnalysisResults, analysis: str) -> str:
    """Why a section is empty (the minimum sizes and other reasons recorded by the pipeline)."""
    why = results.skipped.get(analysis, "see the notes")
    return f'<p class="note">(skipped: {html.escape(why)})</p>'


_figure = figure_html
_csv_link = csv_link


def _df(
    frame: pd.DataFrame | None, *, index: bool = False, rows: int = MAX_ROWS, links: dict[str, str] | None = None
) -> str:
    """A sortable table of the first ``rows`` rows; model ids (a ``model_id`` column or index) link to their
    pages."""
    return html_table(frame, index=index, rows=rows, links=links)


def _kv_table(values: dict[str, Any]) -> str:
    rows = []
    for key, value in values.items():
        if isinstance(value, dict):
            inner = _kv_table(value) if value else "—"
            rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{inner}</td></tr>")
        else:
            text = f"{value:.4g}" if isinstance(value, float) else "—" if value is None else str(value)
            rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _summary(results: AnalysisResults, run_summary: dict | None) -> str:
    parts = []
    if run_summary:
        parts.append("<h3>Run</h3>" + _kv_table(run_summary))
    parts.append("<h3>Analysis</h3>" + _kv_table(results.summary()))
    if results.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in results.notes)
        parts.append(f'<h3>Notes</h3><ul class="note">{items}</ul>')
    return "\n".join(parts)


def _pareto(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str], links: dict[str, str]) -> str:
    pareto = results.pareto
    if pareto is None:
        return _skipped(results, "Pareto fronts")
    objectives = ", ".join(html.escape(o) for o in pareto.objectives)
    quality = pareto.quality
    compared = quality[~quality["too_few_members"]]
    size = int(compared["subsample_size"].iloc[0]) if len(compared) and compared["subsample_size"].notna().any() else 0
    return (
        f"<p>Objectives: {objectives}. Models with a failed evaluation left out: {pareto.n_dropped_nan}. "
        f"Pareto-optimal: {int(pareto.optimal.sum())} in the objectives, {int(pareto.optimal_all.sum())} in all "
        f"{len(results.canonical)} canonical values, of {len(pareto.optimal)} models.</p>"
        + _figure(drawn, "pareto_front")
        + _figure(drawn, "pareto_count", "Random k-property subsets; the null models are equicorrelated Gaussians.")
        + _figure(drawn, "front_quality")
        + "<p>Hypervolume grows with the number of members, so the types are compared on equal-size samples: "
        + (
            f"{size} members drawn without replacement from each type with at least "
            f"{results.config.min_type_members} members, {results.config.n_bootstrap} times; median and 95 % "
            "interval of the sample front's hypervolume (higher is better) and IGD to the global front (lower is "
            "better), ranked by the median hypervolume. The smallest compared type's sample is all its members "
            "(a single value). The full-sample <code>hypervolume</code> and <code>igd</code> columns are not "
            "comparable between types of different sizes."
            if size
            else "no type has enough members (or no resamples), so no type is ranked."
        )
        + "</p>"
        + _df(quality)
        + _csv_link(tables, "pareto_quality")
        + _csv_link(tables, "pareto_count_vs_k")
        + "<h3>Pareto-optimal models</h3>"
        + _df(_pareto_optimal(results), rows=MAX_ROWS, links=links)
        + _csv_link(tables, "pareto_optimal")
    )


def _pareto_optimal(results: AnalysisResults) -> pd.DataFrame:
    """The models optimal in the objectives or in all properties, with their type and in which sense."""
    pareto = results.pareto
    flags = pd.concat([pareto.optimal, pareto.optimal_2d, pareto.optimal_all], axis=1).fillna(False).astype(bool)
    flags = flags[flags.any(axis=1)]
    types = results.table.types.reindex(flags.index)
    return flags.assign(type=types).rename_axis("model_id").reset_index()[["model_id", "type", *flags.columns]]


def _correlation(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
    corr = results.correlation
    values = (
        f"<p>{len(results.canonical)} values, one per property, of {results.table.errors.shape[1]} analysed "
        f"(the others are MAE, per-config-type and other variants: "
        f"{_csv_link(tables, 'canonical_values').removeprefix('<p>').removesuffix('</p>') or 'none'}).</p>"
    )
    if corr is None:
        return values + _skipped(results, "correlation graph")
    components = "".join(f"<li>{len(c)}: {html.escape(', '.join(c))}</li>" for c in corr.components if len(c) > 1)
    singles = sum(1 for c in corr.components if len(c) == 1)
    return (
        f"<p>{len(corr.edges)} edges with r² &gt; {corr.r2_threshold}; confidence = share of {corr.n_bootstrap} "
        f"bootstrap resamples of the models keeping the edge. {len(corr.components)} components "
        f"({singles} isolated properties).</p>"
        f"<p>Representative properties (greedy PageRank): {html.escape(', '.join(corr.representatives))}</p>"
        + _figure(drawn, "correlation_graph")
        + _figure(drawn, "correlation_matrix")
        + (f"<h3>Components</h3><ul>{components}</ul>" if components else "")
        + _df(corr.edges)
        + "".join(_csv_link(tables, k) for k in ("correlation_edges", "correlation_pearson", "correlation_spearman"))
        + _type_graphs(results, tables)
    )


def _type_graphs(results: AnalysisResults, tables: dict[str, str]) -> str:
    """The per-type graphs compared: shared and type-specific edges."""
    graphs = results.type_graphs
    if graphs is None:
        return ""
    head = "<h3>Correlation graph per MLIP type</h3>"
    few = "".join(f"<li>{html.escape(t)}: {html.escape(why)}</li>" for t, why in graphs.skipped.items())
    few = f"<p>No graph (too few members):</p><ul>{few}</ul>" if few else ""
    if not graphs.graphs:
        return head + few
    counts = ", ".join(
        f"{html.escape(t)} ({len(g.edges)} edges, {len(results.table.types[results.table.types == t])} members)"
        for t, g in graphs.graphs.items()
    )
    comparison = graphs.comparison
    kinds = comparison["kind"].value_counts()
    summary = ", ".join(f"{n} {html.escape(k)}" for k, n in kinds.items())
    partial = comparison[comparison["n_types"] < len(graphs.graphs)]
    return (
        head
        + f"<p>Each type's own graph (same threshold and bootstrap, its members only): {counts}. Edges: "
        + f"{summary or 'none'}. Columns r_&lt;type&gt;: the pair's correlation within the type. Of the "
        + f"{len(partial)} edges not in every type's graph, {int(partial['r_differs'].sum())} have correlations "
        + "that differ between the types (Fisher z, p &lt; 0.05); the others only cross the threshold in some.</p>"
        + few
        + _df(graphs.comparison, rows=MAX_ROWS)
        + _csv_link(tables, "correlation_by_type")
    )


def _prediction(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
    pred = results.prediction
    if pred is None or pred.r2.empty:
        return _skipped(results, "prediction graph")
    s = pred.settings
    return (
        f"<p>Lasso (alpha {s.alpha}) of each canonical value on all others, {s.n_splits} random splits "
        f"({s.test_fraction:.0%} test), {pred.n_models} complete models. Test R² per target: mean, sd and "
        "2.5–97.5 percentiles over the splits (tables/prediction_r2.csv).</p>"
        + _figure(drawn, "prediction")
        + _df(pred.ranking)
        + "".join(_csv_link(tables, k) for k in ("prediction_ranking", "prediction_r2", "prediction_coefficients"))
    )


def _clusters(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
    clusters = results.clustering
    if clusters is None:
        return _skipped(results, "clustering")
    return (
        "<p>Louvain communities of the Pareto-optimal models on a k-nearest-neighbour similarity graph; each "
        "community's membership is explained by an L1 logistic regression on the models' metadata.</p>"
        + _figure(drawn, "clusters")
        + _df(clusters.explanation)
        + _csv_link(tables, "cluster_members")
        + _csv_link(tables, "cluster_coefficients")
    )


def _selection(results: AnalysisResults, tables: dict[str, str], links: dict[str, str], units: dict[str, str]) -> str:
    sel = results.selection
    if sel is None:
        return "<p>(skipped)</p>"
    parts = [
        "<h3>Best models: the most thresholds met</h3>",
        _df(sel.most_thresholds, links=links),
        _csv_link(tables, "selection"),
    ]
    if sel.comparison is not None and not sel.comparison.empty:
        parts += [
            f"<h3>Selecting by rare-event metrics vs by force RMSE</h3><p>The {results.config.n_selected} models "
            "each metric would pick, scored on every other property: median |error| and share within the "
            "threshold, beside all models.</p>",
            _selection_verdict(results, tables, units),
            "<p>Median |error| of each metric's picks, in the row's unit:</p>",
            _median_comparison(sel.comparison, units),
            "<p>Share of each metric's picks within the threshold:</p>",
            _df(_share_comparison(sel.comparison), index=True, rows=200),
            _csv_link(tables, "selection_comparison"),
        ]
    elif sel.verdict_note:
        parts.append(
            "<h3>Selecting by rare-event metrics vs by force RMSE</h3>"
            f'<p class="note">No comparison: {html.escape(sel.verdict_note)}.</p>'
        )
    if not sel.metric_summary.empty:
        parts += [
            "<h3>Selected by a metric: median percentile (0 best) of its picks in every other property</h3>",
            _df(
                sel.metric_summary.T.rename_axis("property").rename(columns=lambda m: f"{m} picks (percentile)"),
                index=True,
                rows=len(sel.metric_summary.columns),
            ),
            _csv_link(tables, "selection_by_metric"),
        ]
    return "\n".join(parts)


def _all_models(models: pd.DataFrame | None, tables: dict[str, str], links: dict[str, str]) -> str:
    if models is None or models.empty:
        return "<p>(no models)</p>"
    return (
        f"<p>{len(models)} models; each id links to the model's page (values, errors, failures, provenance and "
        "property figures). Click a column header to sort.</p>"
        + _df(models, rows=MAX_INDEX_ROWS, links=links)
        + _csv_link(tables, "models")
    )


def _wide_comparison(comparison: pd.DataFrame, column: str) -> pd.DataFrame:
    wide = comparison.pivot_table(index="property", columns="metric", values=column, aggfunc="first", dropna=False)
    order = ["all models"] + [m for m in dict.fromkeys(comparison["metric"]) if m != "all models"]
    wide = wide[[m for m in order if m in wide.columns]]
    return wide.rename(columns=lambda m: m if m == "all models" else f"{m} picks").rename_axis(columns=None)


def _median_comparison(comparison: pd.DataFrame, units: dict[str, str]) -> str:
    """property x metric: median |error| of the metric's picks, in the property's unit (its ``unit`` column)."""
    wide = _wide_comparison(comparison, "median_abs_error")
    shown = with_unit_column(wide.reset_index(), "property", units)
    return html_table(shown, rows=200, units=dict.fromkeys(map(str, wide.columns), ROW_UNIT))


def _share_comparison(comparison: pd.DataFrame) -> pd.DataFrame:
    """property x metric: share (%) of the metric's picks within the threshold."""
    wide = 100.0 * _wide_comparison(comparison, "share_within_threshold").dropna(how="all")
    return wide.rename(columns=lambda m: f"{m} (%)")


def _selection_verdict(results: AnalysisResults, tables: dict[str, str], units: dict[str, str]) -> str:
    """Per barrier / defect-energy property and (RE, RMSE) metric pair: the difference with its bootstrap interval."""
    sel = results.selection
    if sel.verdict is None or sel.verdict.empty:
        why = sel.verdict_note or "no comparison"
        return f'<p class="note">No RE-vs-RMSE verdict: {html.escape(why)}.</p>'
    verdict = sel.verdict
    frame = pd.DataFrame(
        {
            "target": verdict["target"],
            "RE metric": verdict["re_metric"],
            "RMSE metric": verdict["rmse_metric"],
            "RE picks median |error|": verdict["re_median_abs_error"],
            "RMSE picks median |error|": verdict["rmse_median_abs_error"],
            "all models": verdict["all_median_abs_error"],
            "RE − RMSE [95 % CI]": [
                format_interval(d, lo, hi)
                for d, lo, hi in verdict[["difference", "diff_ci_low", "diff_ci_high"]].to_numpy()
            ],
            "verdict": verdict["verdict"],
        }
    )
    in_unit = ["RE picks median |error|", "RMSE picks median |error|", "all models", "RE − RMSE [95 % CI]"]
    n_models, n_selected = int(verdict["n_models"].iloc[0]), int(verdict["n_selected"].iloc[0])
    return (
        f"<p>Verdict per pair ({n_selected} picks per metric of {n_models} models; bootstrap over the models): "
        "<i>RE better</i> / <i>RMSE better</i> only when the interval excludes 0.</p>"
        + html_table(with_unit_column(frame, "target", units), rows=200, units=dict.fromkeys(in_unit, ROW_UNIT))
        + _csv_link(tables, "selection_verdict")
    )


def _settings(results: AnalysisResults) -> dict[str, Any]:
    settings = asdict(results.config)
    settings["timings_s"] = {k: round(v, 3) for k, v in results.timings_s.items()}
    return {k: (v if isinstance(v, dict) else ("—" if v is None else str(v))) for k, v in settings.items()}
