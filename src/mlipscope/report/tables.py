"""Every analysis table as a CSV file under the report's ``tables/`` folder (the HTML shows only the first rows),
and the sortable HTML tables and offline page shell of the report's pages."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlipscope.analysis.canonical import property_category
from mlipscope.analysis.pipeline import AnalysisResults


def analysis_tables(results: AnalysisResults) -> dict[str, pd.DataFrame]:
    """name -> DataFrame for every table the analyses produced (index kept where it carries names)."""
    out: dict[str, pd.DataFrame] = {}
    if results.thresholds is not None and not results.thresholds.difficulty.empty:
        out["difficulty"] = results.thresholds.difficulty.set_index("difficulty_rank")
        out["pass_share"] = results.thresholds.pass_share
        out["pass_share_intervals"] = results.thresholds.share_intervals.set_index(["property", "type"])
    out["canonical_values"] = canonical_table(results)
    if results.skipped:
        out["skipped_analyses"] = pd.Series(results.skipped, name="reason").rename_axis("analysis").to_frame()
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
    if results.type_graphs is not None and not results.type_graphs.comparison.empty:
        out["correlation_by_type"] = results.type_graphs.comparison.set_index(["source", "target"])
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
        if sel.verdict is not None and not sel.verdict.empty:
            out["selection_verdict"] = sel.verdict.set_index(["target", "re_metric", "rmse_metric"])
    if results.findings is not None:
        found = results.findings
        out["findings_type_scores"] = found.type_scores.set_index(["category", "type"])
        out["findings_best_type"] = found.best_by_category.set_index("category")
        if not found.trade_offs.empty:
            out["findings_trade_offs"] = found.trade_offs
    if results.dropped_properties:
        out["dropped_properties"] = (
            pd.Series(results.dropped_properties, name="reason").rename_axis("property").to_frame()
        )
    return out


def canonical_table(results: AnalysisResults) -> pd.DataFrame:
    """Every analysed value: its category, whether the multi-property analyses use it, and why not."""
    names = results.table.properties
    return pd.DataFrame(
        {
            "category": [property_category(n) for n in names],
            "canonical": [n in results.canonical for n in names],
            "reason": [results.not_canonical.get(n, "") for n in names],
        },
        index=pd.Index(names, name="property"),
    )


def export_tables(results: AnalysisResults, folder: Path) -> dict[str, str]:
    """Write every table as ``folder/<name>.csv``; return name -> path relative to the report folder."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in analysis_tables(results).items():
        frame.to_csv(folder / f"{name}.csv")
        written[name] = f"{folder.name}/{name}.csv"
    return written


# -- HTML tables and the page shell (shared by index.html and the per-model pages) -------------------------------

# Click a header to sort its table (again: reverse). Numbers compare as numbers (when every filled cell of the
# column is one), text as text; an empty cell or "—" (NaN) sorts last either way. No external scripts.
SORT_SCRIPT = r"""
(function(){
  var NUM = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?%?$/i;
  function text(row, i){ var c = row.cells[i]; return c ? c.textContent.trim() : ""; }
  function missing(t){ return t === "" || t === "—" || t === "nan" || t === "NaN"; }
  function sortBy(table, th, i){
    var body = table.tBodies[0]; if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var numeric = rows.every(function(r){ var t = text(r, i); return missing(t) || NUM.test(t); });
    rows.sort(function(a, b){
      var x = text(a, i), y = text(b, i), mx = missing(x), my = missing(y);
      if (mx || my) return mx === my ? 0 : (mx ? 1 : -1);
      var d = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y, undefined, {numeric: true});
      return asc ? d : -d;
    });
    rows.forEach(function(r){ body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function(h){ h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  document.addEventListener("DOMContentLoaded", function(){
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function(table){
      if (!table.tHead || !table.tHead.rows.length) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th, i){
        th.title = "click to sort"; th.style.cursor = "pointer";
        th.addEventListener("click", function(){ sortBy(table, th, i); });
      });
    });
  });
})();
"""

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0} td,th{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0} img{max-width:100%;border:1px solid #eee;margin:0.5em 0} .note{color:#a33}
nav a{margin-right:1em} th[aria-sort=ascending]::after{content:" ▲"} th[aria-sort=descending]::after{content:" ▼"}
td.no{color:#a33} td.yes{color:#262} .table-wrap{overflow-x:auto;max-width:100%}
td.long,th.long{overflow-wrap:anywhere;min-width:10em}
"""


def html_page(title: str, body: str) -> str:
    """A complete offline page: inline style and sort script, no external resources (the empty data: icon stops
    the browser asking for /favicon.ico)."""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<link rel="icon" href="data:,"><style>{STYLE}</style><script>{SORT_SCRIPT}</script></head>\n'
        f"<body>{body}</body></html>\n"
    )


def format_cell(value: Any, digits: int = 4) -> str:
    """Text of one table cell: floats to ``digits`` significant digits, NaN/None as "—", booleans as yes/no."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "—"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return "—" if math.isnan(value) else f"{float(value):.{digits}g}"
    return str(value)


ROW_UNIT = "in unit"  # header note of a column in each row's own unit, given by the table's "unit" column
UNIT_COLUMN = "unit"
LONG_RUN = 20  # characters without a space: a longer run (a value name) may wrap anywhere (class "long")


def header_with_unit(name: str, unit: str) -> str:
    """``name (unit)``; the name alone for an empty unit."""
    return f"{name} ({unit})" if unit else name


def is_long(text: str) -> bool:
    """Whether ``text`` has a run of more than :data:`LONG_RUN` characters without a space: its cell gets the
    class ``long``, which lets it wrap anywhere (a long value name would otherwise set its column's width)."""
    return any(len(word) > LONG_RUN for word in text.split())


def _cell(tag: str, text: str, inner: str, classes: tuple[str, ...] = ()) -> str:
    names = [*classes, *(["long"] if is_long(text) else [])]
    attribute = f' class="{" ".join(names)}"' if names else ""
    return f"<{tag}{attribute}>{inner}</{tag}>"


def html_table(
    frame: pd.DataFrame | None,
    *,
    index: bool = False,
    rows: int | None = 25,
    links: Mapping[str, str] | None = None,
    link_columns: tuple[str, ...] = ("model_id",),
    units: Mapping[str, str] | None = None,
    digits: int = 4,
) -> str:
    """A sortable HTML table of ``frame`` (all text escaped; the index as leading columns with ``index``; the
    first ``rows`` rows, None for all), in a box that scrolls sideways when wider than the page; a cell with a
    long unbroken name may wrap (:func:`is_long`). Cells of ``link_columns`` whose text is a key of ``links``
    become links to ``links[text]``. ``units``: column -> unit, shown in its header as ``column (unit)``;
    :data:`ROW_UNIT` for a column in each row's unit, which needs a ``unit`` column. Floats to ``digits``
    significant digits."""
    if frame is None or frame.empty:
        return "<p>(empty)</p>"
    shown = frame if rows is None else frame.head(rows)
    if index:
        names = [n if n is not None else "" for n in shown.index.names]
        shown = shown.copy()
        shown.index = pd.MultiIndex.from_frame(shown.index.to_frame(index=False), names=names)
        shown = shown.reset_index()
    columns = [" / ".join(str(p) for p in c) if isinstance(c, tuple) else str(c) for c in shown.columns]
    units = units or {}
    if ROW_UNIT in units.values() and UNIT_COLUMN not in columns:
        raise ValueError(f"columns in the row's unit need a {UNIT_COLUMN!r} column: {columns}")
    links = links or {}
    headers = [header_with_unit(c, units.get(c, "")) for c in columns]
    head = "".join(_cell("th", h, html.escape(h)) for h in headers)
    body = []
    for row in shown.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(columns, row, strict=True):
            text = format_cell(value, digits)
            if column in link_columns and text in links:
                cells.append(_cell("td", text, f'<a href="{html.escape(links[text])}">{html.escape(text)}</a>'))
            else:
                cells.append(_cell("td", text, html.escape(text), (text,) if text in ("yes", "no") else ()))
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p>first {rows} of {len(frame)} rows</p>" if rows is not None and len(frame) > rows else ""
    return (
        f'<div class="table-wrap"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{more}"
    )


def figure_html(drawn: Mapping[str, str], key: str, caption: str = "") -> str:
    """The drawn figure ``key`` (path in ``drawn``) with its caption, or why there is none."""
    if key not in drawn:
        return "<p>(no figure: not enough data for this analysis)</p>"
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{drawn[key]}" alt="{html.escape(key)}">{text}</figure>'


def csv_link(tables: Mapping[str, str], key: str) -> str:
    """A paragraph linking the CSV of table ``key`` (empty when it was not written)."""
    return f'<p><a href="{tables[key]}">{html.escape(key)}.csv</a></p>' if key in tables else ""


def with_unit_column(frame: pd.DataFrame, name_column: str, units: Mapping[str, str]) -> pd.DataFrame:
    """``frame`` with a ``unit`` column after ``name_column`` (the unit of each row's value name: ``units``, "?"
    where unknown), for columns shown in :data:`ROW_UNIT`."""
    out = frame.copy()
    at = list(out.columns).index(name_column) + 1
    out.insert(at, UNIT_COLUMN, [units.get(str(n)) or "?" for n in out[name_column]])
    return out
