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
from mlipscope.report import figures_errors, figures_graphs, figures_pareto
from mlipscope.report.dynamics_section import DynamicsReport, draw_dynamics_figures, dynamics_section
from mlipscope.report.model_pages import MAX_FIGURE_MODELS, ModelReportData, model_index, write_model_pages
from mlipscope.report.tables import export_tables, html_page, html_table

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
) -> Path:
    """Write index.html, figures/*.png, tables/*.csv and models/*.html under ``out_dir``; return the path of
    index.html. ``cheaper_dft``: the errors of cheaper DFT settings (:func:`mlipscope.properties.acceptable_errors`),
    shown beside the difficulty ranking. ``model_data``: the store's models, evaluations and details
    (:meth:`ModelReportData.from_store`) for the per-model pages; without it the pages show the error table's
    |errors| only. Property figures are drawn for at most ``max_figure_models`` models (see
    :mod:`mlipscope.report.model_pages`). ``dynamics``: the run's dynamics stage (RE- vs RMSE-selected models' MD
    diffusion and survival, :mod:`mlipscope.report.dynamics_section`)."""
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
        progress.update(task, description="model pages")
        links = write_model_pages(
            results, out_dir, model_data, title=title, max_figure_models=max_figure_models, index=models
        )
    page = _page(results, title, run_summary, drawn, tables, cheaper_dft, models, links, dynamics)
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
) -> str:
    links = links or {}
    sections = [
        ("summary", "Summary", _summary(results, run_summary)),
        ("difficulty", "Difficulty ranking", _difficulty(results, drawn, tables, cheaper_dft)),
        ("distributions", "Distributions", _figure(drawn, "distributions") + _csv_link(tables, "distributions")),
        ("pareto", "Pareto fronts", _pareto(results, drawn, tables, links)),
        ("correlation", "Correlation graph", _correlation(results, drawn, tables)),
        ("prediction", "Prediction graph", _prediction(results, drawn, tables)),
        ("clusters", "Clusters of optimal models", _clusters(results, drawn, tables)),
        ("selection", "Model selection", _selection(results, tables, links)),
        *(
            [("dynamics", "Dynamics: RE-selected vs RMSE-selected models", dynamics_section(dynamics, drawn, links))]
            if dynamics is not None
            else []
        ),
        ("models", "All models", _all_models(models, tables, links)),
        ("settings", "Settings", _kv_table(_settings(results))),
    ]
    nav = "".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name, _ in sections)
    body = "".join(f'<h2 id="{key}">{html.escape(name)}</h2>\n{content}\n' for key, name, content in sections)
    return html_page(title, f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}")


def _figure(drawn: dict[str, str], key: str, caption: str = "") -> str:
    if key not in drawn:
        return "<p>(no figure: not enough data for this analysis)</p>"
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{drawn[key]}" alt="{html.escape(key)}">{text}</figure>'


def _csv_link(tables: dict[str, str], key: str) -> str:
    return f'<p><a href="{tables[key]}">{html.escape(key)}.csv</a></p>' if key in tables else ""


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
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
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


def _difficulty(
    results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str], cheaper_dft: pd.DataFrame | None = None
) -> str:
    th = results.thresholds
    if th is None or th.difficulty.empty:
        return "<p>No thresholds were given (analysis setting <code>thresholds</code>): no difficulty ranking.</p>"
    parts = [
        "<p>Share of models whose |error| is within the property's acceptable error (its source in the last "
        "column); a failed evaluation counts as not meeting it. Hardest first.</p>",
        _figure(drawn, "difficulty"),
        _df(th.difficulty, rows=len(th.difficulty)),
        _csv_link(tables, "difficulty"),
        "<h3>Share within threshold per MLIP type</h3>",
        _df(th.pass_share.loc[th.difficulty["property"]], index=True, rows=len(th.pass_share)),
        _csv_link(tables, "pass_share"),
    ]
    if cheaper_dft is not None and not cheaper_dft.empty:
        wide = cheaper_dft.pivot_table(index="value", columns="setting", values="error", aggfunc="first")
        used = cheaper_dft[cheaper_dft["threshold"]]["setting"].unique()
        parts += [
            "<h3>Acceptable errors from cheaper DFT</h3>",
            "<p>The error of each cheaper DFT setting stored with the data against the reference labels, i.e. what "
            f"a DFT calculation at that setting would score. Used as thresholds: {html.escape(', '.join(used))}."
            "</p>",
            _df(wide, index=True, rows=len(wide)),
            _csv_link(tables, "cheaper_dft"),
        ]
    return "\n".join(parts)


def _pareto(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str], links: dict[str, str]) -> str:
    pareto = results.pareto
    if pareto is None:
        return "<p>(skipped: see the notes)</p>"
    objectives = ", ".join(html.escape(o) for o in pareto.objectives)
    return (
        f"<p>Objectives: {objectives}. Models with a failed evaluation left out: {pareto.n_dropped_nan}. "
        f"Pareto-optimal: {int(pareto.optimal.sum())} in the objectives, {int(pareto.optimal_all.sum())} in all "
        f"{results.table.errors.shape[1]} properties, of {len(pareto.optimal)} models.</p>"
        + _figure(drawn, "pareto_front")
        + _figure(drawn, "pareto_count", "Random k-property subsets; the null models are equicorrelated Gaussians.")
        + _figure(drawn, "front_quality")
        + _df(pareto.quality)
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
    if corr is None:
        return "<p>(skipped: see the notes)</p>"
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
    )


def _prediction(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
    pred = results.prediction
    if pred is None:
        return "<p>(skipped: see the notes)</p>"
    s = pred.settings
    return (
        f"<p>Lasso (alpha {s.alpha}) of each property on all others, {s.n_splits} random splits "
        f"({s.test_fraction:.0%} test), {pred.n_models} complete models.</p>"
        + _figure(drawn, "prediction")
        + _df(pred.ranking)
        + "".join(_csv_link(tables, k) for k in ("prediction_ranking", "prediction_r2", "prediction_coefficients"))
    )


def _clusters(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
    clusters = results.clustering
    if clusters is None:
        return "<p>(skipped: see the notes)</p>"
    return (
        "<p>Louvain communities of the Pareto-optimal models on a k-nearest-neighbour similarity graph; each "
        "community's membership is explained by an L1 logistic regression on the models' metadata.</p>"
        + _figure(drawn, "clusters")
        + _df(clusters.explanation)
        + _csv_link(tables, "cluster_members")
        + _csv_link(tables, "cluster_coefficients")
    )


def _selection(results: AnalysisResults, tables: dict[str, str], links: dict[str, str]) -> str:
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
            _selection_verdict(sel.comparison),
            _df(_wide_comparison(sel.comparison, "median_abs_error"), index=True, rows=200),
            "<p>Share within threshold:</p>",
            _df(_wide_comparison(sel.comparison, "share_within_threshold").dropna(how="all"), index=True, rows=200),
            _csv_link(tables, "selection_comparison"),
        ]
    if not sel.metric_summary.empty:
        parts += [
            "<h3>Selected by a metric: median percentile (0 best) of its picks in every other property</h3>",
            _df(sel.metric_summary.T.rename_axis("property"), index=True, rows=len(sel.metric_summary.columns)),
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
    return wide[[m for m in order if m in wide.columns]]


def _selection_verdict(comparison: pd.DataFrame) -> str:
    """One sentence per barrier / defect-energy property: do the RE-metric picks beat the force-RMSE picks?"""
    metrics = list(dict.fromkeys(comparison["metric"]))
    re_metrics = [m for m in metrics if ".re_" in m]
    rmse = [m for m in metrics if m.endswith("force_rmse_ev_a") and ".re_" not in m]
    if not re_metrics or not rmse:
        return ""
    wide = _wide_comparison(comparison, "median_abs_error")
    targets = [p for p in wide.index if p.endswith((".barrier_ev", ".formation_energy_ev"))]
    items = []
    for prop in targets:
        best_re = wide.loc[prop, re_metrics].min()
        best_rmse = wide.loc[prop, rmse].min()
        if pd.isna(best_re) or pd.isna(best_rmse):
            continue
        verdict = "better" if best_re < best_rmse else "not better"
        items.append(
            f"<li>{html.escape(prop)}: RE-selected median |error| {best_re:.3g} vs RMSE-selected {best_rmse:.3g}"
            f" (all models {wide.loc[prop, 'all models']:.3g}): RE selection {verdict}</li>"
        )
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _settings(results: AnalysisResults) -> dict[str, Any]:
    settings = asdict(results.config)
    settings["timings_s"] = {k: round(v, 3) for k, v in results.timings_s.items()}
    return {k: (v if isinstance(v, dict) else ("—" if v is None else str(v))) for k, v in settings.items()}
