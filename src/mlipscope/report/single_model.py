"""The report of a database with one model or a few: each model judged on its own (``mlipscope analyze --db``).

The ensemble analysis ranks properties and models by how an ensemble's errors spread; with fewer models than its
smallest minimum size it has nothing to say, and a single model's errors do not vary, so it would drop every
property. This report instead shows, per model, every stored value beside its reference (with the reference's
source), its acceptable error (with its source), the error and whether it is within (:mod:`.verdict`), the summary
"N of M within" with the worst misses, the failed evaluations with their reasons, and the figures its stored
details allow (EOS, phonons, NEB, rare-event CDFs, ... from :mod:`.figures_properties`; energy and force parity of
a dataset's frames). A value without a reference or without an acceptable error says so instead of being left out.

Layout: ``index.html`` (the models with their verdicts; with two or more, a values x models table),
``models/<model>.html`` (one page per model, figures under ``models/figures/``), ``tables/values.csv`` (every judged
value of every model, long form).
"""

from __future__ import annotations

import hashlib
import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from mlipscope.report.figures_properties import property_figures
from mlipscope.report.model_pages import MODELS_DIR, page_filename, saved_figure_html
from mlipscope.report.tables import format_cell, html_page, html_table
from mlipscope.report.verdict import Verdict, VerdictRow, row_dict

log = logging.getLogger(__name__)

#: keys of a dataset property's stored frames that the parity figure reads (:mod:`mlipscope.properties.dataset_errors`)
PARITY_KEYS = ("config_type", "energy_dft_ev_atom", "energy_model_ev_atom", "forces_dft_ev_a", "forces_model_ev_a")


@dataclass
class ModelVerdict:
    """One model's part of the report.

    ``about``: its row of ``ResultStore.models()`` (family, hyperparameters, path, ...); ``verdict``: its latest
    values judged against their acceptable errors; ``failed``: its failed evaluations (``property_label``,
    ``reason``); ``thresholds_from``: how its acceptable errors were chosen (material, reference, notes), shown on
    its page; ``details``: property label -> the details its latest evaluation stored (for the figures)."""

    model_id: str
    about: Mapping[str, Any]
    verdict: Verdict
    failed: pd.DataFrame
    thresholds_from: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def values_frame(verdict: Verdict) -> pd.DataFrame:
    """The page's table: one row per value (reference, acceptable error, their sources, the verdict)."""
    columns = [
        "property", "value name", "value", "unit", "reference", "reference source", "|error|", "acceptable error",
        "acceptable error source", "verdict",
    ]  # fmt: skip
    rows = [
        [
            r.property_label or r.name.split(".", 1)[0],
            r.name,
            r.value,
            r.unit,
            r.reference if r.has_reference else "no reference",
            r.reference_source or "—",
            r.absolute_error,
            r.acceptable_error if math.isfinite(r.acceptable_error) else "no acceptable error",
            r.acceptable_error_source or "—",
            r.status,
        ]
        for r in verdict.rows
    ]
    return pd.DataFrame(rows, columns=columns)


def write_single_model_report(models: Sequence[ModelVerdict], out_dir: Path, *, title: str, why: str) -> Path:
    """Write ``index.html``, a page per model and ``tables/values.csv`` under ``out_dir``; return index.html's
    path. ``why``: one sentence on why this report and not the ensemble analysis (shown at the top)."""
    out_dir = Path(out_dir)
    folder = out_dir / MODELS_DIR
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(exist_ok=True)
    pages = _page_names([m.model_id for m in models])
    for model in models:
        page = _model_page(model, folder, pages[model.model_id], title)
        (folder / pages[model.model_id]).write_text(page, encoding="utf-8")
    long = pd.DataFrame(
        [{"model_id": m.model_id, **row_dict(r), "verdict": r.status} for m in models for r in m.verdict.rows]
    )
    long.to_csv(out_dir / "tables" / "values.csv", index=False)
    links = {m.model_id: f"{MODELS_DIR}/{pages[m.model_id]}" for m in models}
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{html.escape(why)}</p>",
        "<h2>Models</h2>",
        html_table(_models_table(models), rows=None, links=links),
    ]
    if len(models) >= 2:
        parts += [
            "<h2>Values × models</h2>",
            "<p>Each model's value and verdict (columns named by the model's calculator or path); references, "
            "acceptable errors and their sources are on the model pages (a column of them reads <em>varies</em> "
            "where the models were judged against different ones).</p>",
            html_table(_comparison(models), rows=None),
        ]
    parts.append('<p>Every value of every model: <a href="tables/values.csv">tables/values.csv</a>.</p>')
    path = out_dir / "index.html"
    path.write_text(html_page(title, "\n".join(parts)), encoding="utf-8")
    return path


def _page_names(model_ids: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for model_id in model_ids:
        name = page_filename(model_id)
        if name in names.values():  # two ids with one safe name: keep them apart
            name = f"{name[:-5]}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}.html"
        names[model_id] = name
    return names


def _models_table(models: Sequence[ModelVerdict]) -> pd.DataFrame:
    rows = []
    for m in models:
        v = m.verdict
        rows.append(
            {
                "model_id": m.model_id,
                "family": m.about.get("family", ""),
                "model": m.about.get("path", "") or "—",
                "material": m.thresholds_from.get("material", "—"),
                "reference": m.thresholds_from.get("reference", "—"),
                "values": len(v.rows),
                "within": v.n_within,
                "judged": len(v.judged),
                "no reference": v.n_without_reference,
                "no acceptable error": v.n_without_acceptable_error,
                "failed evaluations": v.n_failed,
                "verdict": v.summary_line(),
            }
        )
    return pd.DataFrame(rows)


def _comparison(models: Sequence[ModelVerdict]) -> pd.DataFrame:
    """Values (rows, in first-seen order) x models: value and verdict per model, the shared reference and
    acceptable error once."""
    by_model = [{r.name: r for r in m.verdict.rows} for m in models]
    labels = column_labels(models)
    names = list(dict.fromkeys(n for rows in by_model for n in rows))
    out = []
    for name in names:
        found = [rows[name] for rows in by_model if name in rows]
        row: dict[str, Any] = {"value name": name, "unit": found[0].unit}
        row["reference"] = _shared([r.reference for r in found], "no reference")
        row["acceptable error"] = _shared([r.acceptable_error for r in found], "no acceptable error")
        for label, rows in zip(labels, by_model, strict=True):
            r = rows.get(name)
            row[f"{label}: value"] = r.value if r is not None else math.nan
            row[f"{label}: verdict"] = r.status if r is not None else "not stored"
        out.append(row)
    return pd.DataFrame(out)


def column_labels(models: Sequence[ModelVerdict], max_chars: int = 40) -> list[str]:
    """A column label per model: its calculator spec or path (``sw``, ``mlearn-snap:Mo``) where those are short
    and tell the models apart, else the model ids."""
    paths = [str(m.about.get("path") or "") for m in models]
    if all(0 < len(p) <= max_chars for p in paths) and len(set(paths)) == len(paths):
        return paths
    return [m.model_id for m in models]


def _shared(numbers: list[float], missing: str) -> float | str:
    """The one number every model shares, ``missing`` when none has one, else "varies"."""
    finite = [x for x in numbers if math.isfinite(x)]
    if not finite:
        return missing
    return finite[0] if len(finite) == len(numbers) and len({round(x, 12) for x in finite}) == 1 else "varies"


def _model_page(model: ModelVerdict, folder: Path, filename: str, report_title: str) -> str:
    v = model.verdict
    parts = [
        f'<p><a href="../index.html">← {html.escape(report_title)}</a></p>',
        f"<h1>Model {html.escape(model.model_id)}</h1>",
        f'<p class="verdict"><strong>Verdict: {html.escape(v.summary_line())}</strong></p>',
        "<h2>Acceptable errors</h2>",
        _kv(model.thresholds_from) if model.thresholds_from else "<p>(not recorded)</p>",
        "<h2>Values</h2>",
        html_table(values_frame(v), rows=None) if v.rows else "<p>(no stored values)</p>",
        "<h2>Failed evaluations</h2>",
        html_table(model.failed, rows=None) if len(model.failed) else "<p>None.</p>",
        "<h2>Figures</h2>",
        _figures(model, folder, filename[: -len(".html")]),
        "<h2>Metadata and provenance</h2>",
        _kv({k: v for k, v in model.about.items() if k != "model_id"}),
    ]
    return html_page(f"{model.model_id} — {report_title}", "\n".join(parts))


def model_figures(label: str, details: Mapping[str, Any], rows: list[VerdictRow], title: str) -> list:
    """(key, caption, figure) of every figure one property's stored details allow: the family figures and, for a
    dataset's frames, the energy and force parity."""
    values = {r.name.removeprefix(f"{label}."): (r.value, r.reference) for r in rows}
    drawn = property_figures(details, values, title=title)
    if not any("parity" in key for key, _, _ in drawn):
        parity = _parity(label, details, values)
        if parity is not None:
            drawn.append(("parity", "Energy and force parity against the dataset's DFT labels", parity))
    return drawn


def _parity(label: str, details: Mapping[str, Any], values: Mapping[str, tuple[float, float]]) -> Figure | None:
    from mlipscope.properties.base import PropertyResult
    from mlipscope.properties.dataset_errors import parity_figure
    from mlipscope.properties.frame_data import LAYOUTS

    frames = details.get("frames")
    if isinstance(frames, Mapping):  # the compact layout: errors, the DFT labels read from the dataset file
        if frames.get("layout") not in LAYOUTS:
            return None
    elif (
        not isinstance(frames, list)
        or not frames
        or not all(isinstance(f, Mapping) and all(k in f for k in PARITY_KEYS) for f in frames)
    ):
        return None
    result = PropertyResult(label, {k: v for k, (v, _) in values.items()}, {}, details=dict(details))
    try:
        return parity_figure(result)
    except (OSError, ValueError, KeyError) as exc:  # the dataset file moved or changed: no figure, said in the log
        log.warning("no parity figure for %s: %s", label, exc)
        return None


def _figures(model: ModelVerdict, folder: Path, stem: str) -> str:
    out = []
    for label, details in model.details.items():
        rows = [r for r in model.verdict.rows if (r.property_label or r.name.split(".", 1)[0]) == label]
        for key, caption, figure in model_figures(label, details, rows, f"{label} — {model.model_id}"):
            out.append(saved_figure_html(figure, folder, stem, label, key, caption))
    return "\n".join(out) if out else "<p>(no stored details of a property with a figure)</p>"


def _kv(values: Mapping[str, Any]) -> str:
    rows = []
    for key, value in values.items():
        text = "—" if value is None or value == "" or value == {} else format_cell(value)
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"
