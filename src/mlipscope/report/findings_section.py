"""The report's first section: what the study found, each statement with its interval and the number of models
behind it (hardest properties, best type per category, trade-offs, representative properties, RE-vs-RMSE
selection). Types with fewer than ``min_type_members`` members are named as such and never ranked."""

from __future__ import annotations

import html

import pandas as pd

from mlipscope.analysis.findings import Findings
from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.analysis.uncertainty import format_interval
from mlipscope.report.tables import ROW_UNIT, html_table, with_unit_column


def _esc(value: object) -> str:
    return html.escape(str(value))


def findings_section(results: AnalysisResults, tables: dict[str, str], units: dict[str, str] | None = None) -> str:
    """HTML of the findings (empty parts say why); ``units``: value name -> unit, for the thresholds."""
    found = results.findings
    if found is None:
        return "<p>(no findings: the analysis did not run)</p>"
    parts = [
        _scope(results, found),
        "<h3>Hardest properties</h3>",
        _hardest(found, units or {}),
        "<h3>Which MLIP types do best, per property category</h3>",
        _best_types(found),
        "<h3>Main trade-offs and shared difficulties</h3>",
        _trade_offs(found),
        "<h3>Representative properties</h3>",
        _representatives(results),
        "<h3>Selecting models by rare-event metrics vs by force RMSE</h3>",
        _selection(results),
    ]
    links = [
        f'<a href="{tables[k]}">{k}.csv</a>' for k in ("findings_best_type", "findings_type_scores") if k in tables
    ]
    if links:
        parts.append(f"<p>Tables: {', '.join(links)}</p>")
    return "\n".join(parts)


def _scope(results: AnalysisResults, found: Findings) -> str:
    sizes = ", ".join(
        f"{_esc(t)} {n}" + (" (too few members)" if n < found.min_type_members else "")
        for t, n in found.type_sizes.items()
    )
    return (
        f"<p><b>{found.n_models} models</b> of {len(found.type_sizes)} MLIP "
        f"type{'s' if len(found.type_sizes) != 1 else ''}: {sizes}. A type with fewer than "
        f"{found.min_type_members} members is shown but marked <i>too few members</i> and never ranked. "
        f"{len(results.canonical)} values, one per property, enter the multi-property analyses. Intervals are 95 %: "
        "Wilson score intervals for shares, bootstrap percentile intervals otherwise; n is the number of models "
        "behind each number.</p>"
    )


def _hardest(found: Findings, units: dict[str, str]) -> str:
    if found.hardest.empty:
        return f"<p>{_esc(found.notes.get('hardest', 'no thresholds'))}</p>"
    frame = pd.DataFrame(
        {
            "difficulty rank (all values)": found.hardest["difficulty_rank"],
            "property": found.hardest["property"],
            "acceptable error": found.hardest["threshold"],
            "source": found.hardest.get("source", ""),
            "share meeting it, % [95 % CI]": [
                format_interval(s, lo, hi, percent=True)
                for s, lo, hi in found.hardest[["share_meeting", "share_ci_low", "share_ci_high"]].to_numpy()
            ],
            "n models": found.hardest["n_models"],
        }
    )
    return html_table(with_unit_column(frame, "property", units), rows=None, units={"acceptable error": ROW_UNIT})


def _best_types(found: Findings) -> str:
    best = found.best_by_category
    if best.empty:
        return "<p>(no category: no canonical values)</p>"
    if len(found.type_sizes) < 2:
        return "<p>One MLIP type only: no comparison between types.</p>"
    if not best["best_type"].astype(bool).any():
        sizes = ", ".join(f"{_esc(t)} {n}" for t, n in found.type_sizes.items())
        return (
            f"<p>No type is ranked: none has the {found.min_type_members} members a comparison needs "
            f"(analysis.min_type_members; members: {sizes}).</p>"
        )
    rows = []
    for _, r in best.iterrows():
        ranked = bool(r["best_type"])
        rows.append(
            {
                "category": r["category"],
                "values": r["n_properties"],
                "measure": r["measure"],
                "best type (n)": f"{r['best_type']} ({int(r['best_n'])})" if ranked else "—",
                "score [95 % CI]": format_interval(r["best_score"], r["best_ci_low"], r["best_ci_high"]),
                "runner-up (n)": f"{r['runner_up']} ({int(r['runner_up_n'])})" if r["runner_up"] else "—",
                "runner-up score": f"{r['runner_up_score']:.2g}" if r["runner_up"] else "—",
                "advantage [95 % CI]": format_interval(r["advantage"], r["advantage_ci_low"], r["advantage_ci_high"]),
                "verdict": r["verdict"],
                "too few members (not ranked)": r["too_few_members"] or "—",
            }
        )
    return (
        "<p>Score of a type: its members' mean share of the category's thresholds met (higher is better), or, for a "
        "category without thresholds, its members' mean percentile among all models (0 = best); a failed "
        "evaluation counts as not met / worst. <i>Clearly best</i>: the bootstrap interval of the advantage over "
        "the runner-up excludes 0.</p>" + html_table(pd.DataFrame(rows), rows=None)
    )


def _trade_offs(found: Findings) -> str:
    trade = found.trade_offs
    if trade.empty:
        why = found.notes.get("trade-offs", "no pair of canonical values correlates")
        return f"<p>No correlation statements: {_esc(why)}.</p>"
    items = []
    for _, r in trade.iterrows():
        interval = format_interval(r["r"], r["ci_low"], r["ci_high"])
        sure = "" if r["ci_low"] > 0 or r["ci_high"] < 0 else " — the interval includes 0: no evidence either way"
        meaning = (
            "models better in one tend to be worse in the other"
            if r["r"] < 0
            else "models better in one tend to be better in the other"
        )
        items.append(
            f"<li><b>{_esc(r['source'])}</b> and <b>{_esc(r['target'])}</b>: r = {interval} "
            f"({int(r['n_models'])} models): {meaning}{_esc(sure)}</li>"
        )
    across = (
        " Across types they also reflect the types' different strengths; the per-type graphs (Correlation graph "
        "section) show what holds within each type."
        if len(found.type_sizes) > 1
        else ""
    )
    return (
        "<p>Strongest negative (trade-offs) and positive correlations between the errors of the canonical values "
        f"over all models (the correlation graph's transform).{across}</p><ul>" + "".join(items) + "</ul>"
    )


def _representatives(results: AnalysisResults) -> str:
    corr = results.correlation
    if corr is None:
        why = results.skipped.get("correlation graph", "no correlation graph")
        return f"<p>None: the correlation graph was not computed ({_esc(why)}).</p>"
    n_models = int((results.canonical_values.notna().sum(axis=1) >= 2).sum())
    names = ", ".join(f"<b>{_esc(r)}</b>" for r in corr.representatives)
    return (
        f"<p>{len(corr.representatives)} of {len(results.canonical)} values represent the others (greedy PageRank "
        f"on the correlation graph, r² &gt; {corr.r2_threshold}, {n_models} models): {names}.</p>"
    )


def _selection(results: AnalysisResults) -> str:
    sel = results.selection
    if sel is None or sel.verdict is None or sel.verdict.empty:
        why = sel.verdict_note if sel is not None else "no selection"
        return f"<p>No verdict: {_esc(why or 'no comparison')}.</p>"
    verdict = sel.verdict
    items = []
    for target, rows in verdict.groupby("target", sort=False):
        counts = rows["verdict"].value_counts()
        items.append(
            f"<li><b>{_esc(target)}</b>: RE better in {counts.get('RE better', 0)}, RMSE better in "
            f"{counts.get('RMSE better', 0)}, no clear difference in {counts.get('no clear difference', 0)} of "
            f"{len(rows)} (RE metric, RMSE metric) pairs</li>"
        )
    first = verdict.iloc[0]
    return (
        f"<p>The {int(first['n_selected'])} models each metric picks, of {int(first['n_models'])}: median |error| of "
        "the RE picks minus that of the RMSE picks, with a bootstrap interval; a pair counts only when its interval "
        "excludes 0 (about 1 pair in 20 does so by chance).</p><ul>" + "".join(items) + "</ul>"
    )
