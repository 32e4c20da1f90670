"""The index page of a run over several materials: per material and MLIP family, model counts and median errors,
with links to each material's own report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from mlipscope.report.labels import column_units

#: leading metadata columns of the store's error table (everything after them is an error column)
METADATA = ("family", "training_set_name", "seed")


def median_errors(table: pd.DataFrame) -> pd.DataFrame:
    """Median absolute error per MLIP family (rows) and error column (columns), plus a model count."""
    errors = table[[c for c in table.columns if c not in METADATA and not str(c).startswith("hp.")]]
    errors = errors.apply(pd.to_numeric, errors="coerce").abs()
    grouped = errors.groupby(table["family"]).median()
    grouped.insert(0, "n_models", table.groupby("family").size())
    return grouped


def write_cross_material_index(
    sections: dict[str, tuple[pd.DataFrame, Path]], out_dir: Path, *, title: str, run_summary: dict[str, Any]
) -> Path:
    """Write ``<out_dir>/index.html`` (and ``cross_material_medians.csv``); returns the page's path."""
    out_dir = Path(out_dir)
    parts = [f"<h1>{html.escape(title)}</h1>", "<p>One analysis report per material:</p><ul>"]
    frames = []
    for name, (table, report) in sections.items():
        rel = report.relative_to(out_dir)
        parts.append(f'<li><a href="{html.escape(str(rel))}">{html.escape(name)}</a> ({len(table)} models)</li>')
        medians = median_errors(table)
        medians.insert(0, "material", name)
        frames.append(medians.reset_index())
    parts.append("</ul>")
    combined = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if len(combined):
        combined.to_csv(out_dir / "cross_material_medians.csv", index=False)
        # headline values only (no per-config-type breakdown, no MAE twins) that every material has
        headline = [c for c in combined.columns if c.count(".") == 1 and "_mae_" not in c]
        common = ["material", "family", "n_models"] + [c for c in headline if combined[c].notna().all()]
        parts.append("<h2>Median absolute error per material and MLIP family (properties every material has)</h2>")
        units = column_units(common)  # each column is one value's |error|, in its unit
        shown = combined[common].rename(columns=lambda c: f"{c} ({units[c]})" if c in units else c)
        parts.append(shown.to_html(index=False, float_format=lambda x: f"{x:.4g}", border=0))
        parts.append(
            '<p>All properties: <a href="cross_material_medians.csv">cross_material_medians.csv</a>; errors are '
            "against each material's own DFT reference.</p>"
        )
    summary = {k: v for k, v in run_summary.items() if not isinstance(v, dict)}
    parts.append("<h2>Run</h2><table>")
    parts += [f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()]
    parts.append("</table>")
    page = out_dir / "index.html"
    style = "body{font-family:sans-serif;max-width:1200px;margin:2em auto} td,th{padding:2px 8px;text-align:right}"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                    f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")  # fmt: skip
    return page
