"""``write_report``: a static HTML page (index.html) with the figures (PNG, figures/) and tables (CSV, tables/)."""

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
from mlipscope.report.tables import export_tables

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

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0} td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0} img{max-width:100%;border:1px solid #eee;margin:0.5em 0} .note{color:#a33}
nav a{margin-right:1em}
"""


def write_report(
    results: AnalysisResults, out_dir: Path, *, title: str = "mlipscope report", run_summary: dict | None = None
) -> Path:
    """Write index.html, figures/*.png and tables/*.csv under ``out_dir``; return the path of index.html."""
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    tables = export_tables(results, out_dir / "tables")
    drawn: dict[str, str] = {}
    with Progress(
        TextColumn("[bold]report: {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("figures", total=len(FIGURES))
        for key, _, draw in FIGURES:
            progress.update(task, description=key)
            figure = draw(results)
            if figure is not None:
                figure.savefig(out_dir / "figures" / f"{key}.png", dpi=110)
                drawn[key] = f"figures/{key}.png"
            progress.advance(task)
    page = _page(results, title, run_summary, drawn, tables)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


def _page(
    results: AnalysisResults, title: str, run_summary: dict | None, drawn: dict[str, str], tables: dict[str, str]
) -> str:
    sections = [
        ("summary", "Summary", _summary(results, run_summary)),
        ("difficulty", "Difficulty ranking", _difficulty(results, drawn, tables)),
        ("distributions", "Distributions", _figure(drawn, "distributions") + _csv_link(tables, "distributions")),
        ("pareto", "Pareto fronts", _pareto(results, drawn, tables)),
        ("correlation", "Correlation graph", _correlation(results, drawn, tables)),
        ("prediction", "Prediction graph", _prediction(results, drawn, tables)),
        ("clusters", "Clusters of optimal models", _clusters(results, drawn, tables)),
        ("selection", "Model selection", _selection(results, tables)),
        ("settings", "Settings", _kv_table(_settings(results))),
    ]
    nav = "".join(f'<a href="#{key}">{html.escape(name)}</a>' for key, name, _ in sections)
    body = "".join(f'<h2 id="{key}">{html.escape(name)}</h2>\n{content}\n' for key, name, content in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1><nav>{nav}</nav>\n{body}</body></html>\n"
    )


def _figure(drawn: dict[str, str], key: str, caption: str = "") -> str:
    if key not in drawn:
        return "<p>(no figure: not enough data for this analysis)</p>"
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{drawn[key]}" alt="{html.escape(key)}">{text}</figure>'


def _csv_link(tables: dict[str, str], key: str) -> str:
    return f'<p><a href="{tables[key]}">{html.escape(key)}.csv</a></p>' if key in tables else ""


def _df(frame: pd.DataFrame | None, *, index: bool = False, rows: int = MAX_ROWS) -> str:
    if frame is None or frame.empty:
        return "<p>(empty)</p>"
    shown = frame.head(rows)
    more = f"<p>first {rows} of {len(frame)} rows</p>" if len(frame) > rows else ""
    return shown.to_html(index=index, float_format=lambda x: f"{x:.4g}", na_rep="—", border=0) + more


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


def _difficulty(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
    th = results.thresholds
    if th is None or th.difficulty.empty:
        return "<p>No thresholds were given (analysis setting <code>thresholds</code>): no difficulty ranking.</p>"
    return (
        "<p>Share of models whose |error| is within the property's acceptable threshold; a failed evaluation "
        "counts as not meeting it.</p>"
        + _figure(drawn, "difficulty")
        + _df(th.difficulty)
        + _csv_link(tables, "difficulty")
        + _csv_link(tables, "pass_share")
    )


def _pareto(results: AnalysisResults, drawn: dict[str, str], tables: dict[str, str]) -> str:
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
        + _csv_link(tables, "pareto_optimal")
    )


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


def _selection(results: AnalysisResults, tables: dict[str, str]) -> str:
    sel = results.selection
    if sel is None:
        return "<p>(skipped)</p>"
    parts = ["<h3>Models meeting the most thresholds</h3>", _df(sel.most_thresholds), _csv_link(tables, "selection")]
    if not sel.metric_summary.empty:
        parts += [
            "<h3>Selected by a metric: median percentile (0 best) of its picks in every other property</h3>",
            _df(sel.metric_summary.T.rename_axis("property"), index=True, rows=len(sel.metric_summary.columns)),
            _csv_link(tables, "selection_by_metric"),
        ]
    return "\n".join(parts)


def _settings(results: AnalysisResults) -> dict[str, Any]:
    settings = asdict(results.config)
    settings["timings_s"] = {k: round(v, 3) for k, v in results.timings_s.items()}
    return {k: (v if isinstance(v, dict) else ("—" if v is None else str(v))) for k, v in settings.items()}
