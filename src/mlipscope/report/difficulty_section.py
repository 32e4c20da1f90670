"""The report's difficulty section: the share of models within each acceptable error, per property and per MLIP
type, and the errors of cheaper DFT settings.

The ranking table is built to fit the page: short headers, three significant digits, the share with its interval
in one column, each value's unit in a ``unit`` column (thresholds and errors are in the row's unit), long value
names wrapping at their dots and underscores, and a box that scrolls sideways if it is still too wide."""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd

from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.analysis.thresholds import ThresholdResult
from mlipscope.analysis.uncertainty import format_interval
from mlipscope.report.tables import ROW_UNIT, csv_link, figure_html, html_table, with_unit_column

DIGITS = 3  # significant digits of the ranking table's numbers
IN_ROW_UNIT = ("threshold", "best |error|", "median |error|")


def difficulty_table(th: ThresholdResult, units: Mapping[str, str]) -> pd.DataFrame:
    """The ranking as shown: rank, property, unit, threshold, share [95 % CI], met / n, failed, best and median
    |error|, median / threshold, source (the CSV keeps every raw column)."""
    d = th.difficulty
    frame = pd.DataFrame(
        {
            "rank": d["difficulty_rank"].to_numpy(),
            "property": d["property"].to_numpy(),
            "threshold": d["threshold"].to_numpy(dtype=float),
            "share within, % [95 % CI]": [
                format_interval(s, lo, hi, percent=True)
                for s, lo, hi in d[["share_meeting", "share_ci_low", "share_ci_high"]].to_numpy(dtype=float)
            ],
            "met / n": [f"{int(m)} / {int(n)}" for m, n in d[["n_meeting", "n_models"]].to_numpy()],
            "failed": d["n_failed"].to_numpy(),
            "best |error|": d["best_error"].to_numpy(dtype=float),
            "median |error|": d["median_error"].to_numpy(dtype=float),
            "median / threshold": d["median_over_threshold"].to_numpy(dtype=float),
        }
    )
    if "source" in d.columns:
        frame["source"] = d["source"].fillna("").to_numpy()
    return with_unit_column(frame, "property", units)


def difficulty_section(
    results: AnalysisResults,
    drawn: Mapping[str, str],
    tables: Mapping[str, str],
    cheaper_dft: pd.DataFrame | None = None,
    units: Mapping[str, str] | None = None,
) -> str:
    """HTML of the section (``units``: value name -> unit)."""
    th = results.thresholds
    units = units or {}
    if th is None or th.difficulty.empty:
        return "<p>No thresholds were given (analysis setting <code>thresholds</code>): no difficulty ranking.</p>"
    parts = [
        "<p>Share of models whose |error| is within the property's acceptable error (its source in the last "
        "column), with its Wilson 95 % interval and the number of models; a failed evaluation counts as not "
        "meeting it. Hardest first. Thresholds and errors are in the row's unit.</p>",
        figure_html(drawn, "difficulty"),
        html_table(
            difficulty_table(th, units),
            rows=None,
            units=dict.fromkeys(IN_ROW_UNIT, ROW_UNIT),
            digits=DIGITS,
        ),
        csv_link(tables, "difficulty"),
        unjudged_paragraph(th.unjudged),
        "<h3>Share within threshold per MLIP type</h3>",
        f"<p>Share of the type's models within the threshold, % [Wilson 95 % interval], n members in the header. "
        f"A type with fewer than {results.config.min_type_members} members is marked <i>too few members</i>: "
        "shown, not ranked.</p>",
        html_table(share_table(results), index=True, rows=None),
        csv_link(tables, "pass_share_intervals"),
        csv_link(tables, "pass_share"),
    ]
    if cheaper_dft is not None and not cheaper_dft.empty:
        wide = cheaper_dft.pivot_table(index="value", columns="setting", values="error", aggfunc="first")
        used = cheaper_dft[cheaper_dft["threshold"]]["setting"].unique()
        shown = with_unit_column(wide.rename_axis(columns=None).reset_index(), "value", units)
        parts += [
            "<h3>Acceptable errors from cheaper DFT</h3>",
            "<p>The error of each cheaper DFT setting stored with the data against the reference labels, i.e. what "
            f"a DFT calculation at that setting would score, in the row's unit. Used as thresholds: "
            f"{html.escape(', '.join(used))}.</p>",
            html_table(shown, rows=None, units=dict.fromkeys(map(str, wide.columns), ROW_UNIT)),
            csv_link(tables, "cheaper_dft"),
        ]
    return "\n".join(parts)


def unjudged_paragraph(names: list[str]) -> str:
    """The error-table values that have no acceptable error: said, not invented."""
    if not names:
        return ""
    listed = ", ".join(f"<code>{html.escape(n)}</code>" for n in names)
    return (
        f"<p>{len(names)} values have no acceptable error: no citable DFT or experimental acceptable error, no "
        f"cheaper-DFT setting and no default in the reference file. They are in the tables and analyses but are "
        f"not judged within or outside: {listed}.</p>"
    )


def share_table(results: AnalysisResults) -> pd.DataFrame:
    """property x type: "share % [low, high]"; the header names each type's n and marks too few members."""
    th = results.thresholds
    long = th.share_intervals
    text = [format_interval(s, lo, hi, percent=True) for s, lo, hi in long[["share", "ci_low", "ci_high"]].to_numpy()]
    headers = {
        t: f"{t} (n={n}{', too few members' if few else ''})"
        for t, n, few in long[["type", "n_models", "too_few_members"]].drop_duplicates("type").to_numpy()
    }
    wide = long.assign(text=text).pivot(index="property", columns="type", values="text")
    order = ["all"] + [t for t in headers if t != "all"]
    return wide.loc[th.difficulty["property"], order].rename(columns=headers)
