"""Per-model pages of the report: ``models/<model_id>.html``, linked from the report's tables.

Each page shows the model's metadata and provenance, its standing in the analysis (type, thresholds met,
Pareto-optimal), a sortable table of every value (value, reference, unit, |error|, threshold, within threshold),
its failed evaluations with their reasons, and the property-family figures
(:mod:`mlipscope.report.figures_properties`) drawn from the ``details`` the evaluations stored.

The data come from a results store through :class:`ModelReportData` (:meth:`ModelReportData.from_store`). Without
one the pages are built from the analysed error table alone (|error| per value, no values, references, failure
reasons or figures).

Cost: the tables are cheap, so every model gets a page; figures (the expensive part: a database read of the
details and a PNG per property family) are drawn for at most ``max_figure_models`` models
(:data:`MAX_FIGURE_MODELS` = 20 by default): the best models by thresholds met (the selection table), then the
Pareto-optimal ones, then the others in table order. The pages of the other models are table-only and say so.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlipscope.analysis.pipeline import AnalysisResults
from mlipscope.report.figures_properties import property_figures
from mlipscope.report.labels import value_unit
from mlipscope.report.tables import ROW_UNIT, format_cell, html_page, html_table, with_unit_column

MAX_FIGURE_MODELS = 20  # a PNG per property family and model: ~0.3 s each
MODELS_DIR = "models"

DetailsSource = Callable[[str, str], Mapping[str, Any] | None] | Mapping[tuple[str, str], Mapping[str, Any]]


@dataclass
class ModelReportData:
    """What the per-model pages show beyond the error table.

    ``models``: one row per model (``ResultStore.models``: family, hyperparameters, seed, training set, fit
    status / reason / time, software versions...). ``evaluations``: long form
    (:func:`mlipscope.report.export.values_table`: model_id, property_label, config_hash, status, reason, name,
    value, reference, unit, absolute_error, created...).
    ``details``: the stored details of the latest evaluation of (model_id, property_label), as a callable or a dict
    keyed by that pair (missing: None).
    """

    models: pd.DataFrame
    evaluations: pd.DataFrame
    details: DetailsSource | None = None
    #: reads the details of many models at once (model ids -> {(model_id, property_label): details}); a store
    #: looks each one up with a scan, so the figure models' details are read in one
    details_of_models: Callable[[list[str]], dict[tuple[str, str], Mapping[str, Any]]] | None = None
    _prefetched: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def prefetch(self, model_ids: Iterable[str]) -> None:
        """Read the details of ``model_ids`` now, in one go (a no-op without :attr:`details_of_models`)."""
        ids = sorted(set(model_ids))
        if self.details_of_models is not None and ids:
            self._prefetched.update(self.details_of_models(ids))

    def details_for(self, model_id: str, property_label: str) -> Mapping[str, Any] | None:
        if (model_id, property_label) in self._prefetched:
            return self._prefetched[(model_id, property_label)]
        if self.details is None:
            return None
        if callable(self.details):
            return self.details(model_id, property_label)
        return self.details.get((model_id, property_label))

    def subset(self, model_ids: Iterable[str]) -> ModelReportData:
        """The same data restricted to ``model_ids`` (e.g. one material's models)."""
        ids = set(model_ids)
        models = self.models[self.models["model_id"].isin(ids)] if len(self.models) else self.models
        evals = self.evaluations[self.evaluations["model_id"].isin(ids)] if len(self.evaluations) else self.evaluations
        details = self.details
        if isinstance(details, Mapping):
            details = {k: v for k, v in details.items() if k[0] in ids}
        return ModelReportData(models, evals, details, self.details_of_models)

    @classmethod
    def from_store(cls, store) -> ModelReportData:
        """From an open :class:`~mlipscope.store.protocol.ResultStore` (its records, models and details). The
        details are read lazily (only for the models that get figures), so the store must stay open until the
        report is written."""
        from mlipscope.report.export import values_table

        models = store.models()
        evaluations = values_table(store.records(), models)
        latest = _latest(evaluations)
        hashes = {
            (str(m), str(p)): str(h)
            for m, p, h in latest[["model_id", "property_label", "config_hash"]]
            .drop_duplicates()
            .itertuples(index=False, name=None)
        }

        def details_of_models(model_ids: list[str]) -> dict[tuple[str, str], Mapping[str, Any]]:
            return {(m, p): d for (m, p, h), d in store.details(model_ids).items() if hashes.get((m, p)) == h}

        read: dict[str, dict[tuple[str, str], Mapping[str, Any]]] = {}  # model id -> its latest details

        def details(model_id: str, property_label: str) -> Mapping[str, Any] | None:
            if model_id not in read:
                read[model_id] = details_of_models([model_id])
            return read[model_id].get((model_id, property_label))

        return cls(models, evaluations, details, details_of_models)


def _latest(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest evaluation (by ``created``) of each (model, property label): what the error table
    counts."""
    if evaluations is None or evaluations.empty:
        return pd.DataFrame(
            columns=["model_id", "property_label", "config_hash", "status", "name", "value", "reference"]
        )
    keys = evaluations[["model_id", "property_label", "config_hash", "created"]].drop_duplicates(
        ["model_id", "property_label", "config_hash"]
    )
    last = keys.sort_values("created").drop_duplicates(["model_id", "property_label"], keep="last")
    return evaluations.merge(last[["model_id", "property_label", "config_hash"]], how="inner")


def page_filename(model_id: str) -> str:
    """A file name for the model's page: the id where it is safe, else the safe part plus a short hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", model_id)[:80]
    if safe != model_id or safe.startswith("."):
        safe = f"{safe.lstrip('.')}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"
    return f"{safe}.html"


def figure_priority(results: AnalysisResults, model_ids: list[str]) -> list[str]:
    """The order in which models get figures: best by thresholds met, then Pareto-optimal, then the rest."""
    first: list[str] = []
    if results.selection is not None and not results.selection.most_thresholds.empty:
        first += [str(m) for m in results.selection.most_thresholds["model_id"]]
    if results.pareto is not None:
        first += [str(m) for m, ok in results.pareto.optimal.items() if ok]
    known = set(model_ids)
    return list(dict.fromkeys([m for m in first if m in known] + model_ids))


def model_index(results: AnalysisResults, model_data: ModelReportData | None) -> pd.DataFrame:
    """One row per model: id, type, training set, fit status, values stored, failed evaluations, thresholds met,
    Pareto-optimal. Models of the store missing from the analysed table (failed fits) included."""
    table = results.table
    ids = list(table.model_ids)
    meta = table.metadata
    frame = pd.DataFrame(index=pd.Index(ids, name="model_id"))
    frame["type"] = table.types.reindex(ids).astype(object)
    if "training_set_name" in meta.columns:
        frame["training_set"] = meta["training_set_name"].reindex(ids)
    if model_data is not None and len(model_data.models):
        models = model_data.models.set_index("model_id")
        extra = [m for m in models.index if m not in frame.index]
        frame = frame.reindex(ids + extra)
        frame["type"] = frame["type"].fillna(models["family"].reindex(frame.index))
        frame["training_set"] = (
            models["training_set_name"]
            .reindex(frame.index)
            .fillna(frame.get("training_set", pd.Series(index=frame.index, dtype=object)))
        )
        frame["fit_status"] = models["status"].reindex(frame.index)
        latest = _latest(model_data.evaluations)
        frame["values"] = latest[latest["value"].notna()].groupby("model_id").size().reindex(frame.index).fillna(0)
        failed = latest[latest["status"] == "failed"].drop_duplicates(["model_id", "property_label"])
        frame["failed_evaluations"] = failed.groupby("model_id").size().reindex(frame.index).fillna(0)
        frame[["values", "failed_evaluations"]] = frame[["values", "failed_evaluations"]].astype(int)
    else:
        frame["values"] = table.errors.notna().sum(axis=1).reindex(frame.index)
        frame["missing_values"] = table.errors.isna().sum(axis=1).reindex(frame.index)
    if results.thresholds is not None and results.thresholds.met.shape[1]:
        met = results.thresholds.met
        frame["thresholds_met"] = [
            f"{int(met.loc[m].sum())}/{met.shape[1]}" if m in met.index else "—" for m in frame.index
        ]
    if results.pareto is not None:
        frame["pareto_optimal"] = results.pareto.optimal.reindex(frame.index).astype(object)
    return frame.reset_index()


def write_model_pages(
    results: AnalysisResults,
    out_dir: Path,
    model_data: ModelReportData | None = None,
    *,
    title: str = "mlipscope report",
    max_figure_models: int = MAX_FIGURE_MODELS,
    index: pd.DataFrame | None = None,
) -> dict[str, str]:
    """Write ``out_dir/models/<model>.html`` (and their figures under ``models/figures/``) for every model; return
    model_id -> page path relative to ``out_dir``."""
    if max_figure_models < 0:
        raise ValueError(f"max_figure_models must be >= 0, got {max_figure_models}")
    folder = Path(out_dir) / MODELS_DIR
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    index = model_index(results, model_data) if index is None else index
    ids = [str(m) for m in index["model_id"]]
    names: dict[str, str] = {}
    for model_id in ids:
        name = page_filename(model_id)
        if name in names.values():  # two ids mapping to one safe name: keep them apart
            name = f"{name[:-5]}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}.html"
        names[model_id] = name
    with_figures = set(figure_priority(results, ids)[:max_figure_models]) if model_data is not None else set()
    if model_data is not None:
        model_data.prefetch(with_figures)
    rows = index.set_index("model_id")
    # split the store's tables by model once (filtering them per page is quadratic in the number of models)
    per_model: dict[str, tuple] = {}
    if model_data is not None:
        models = dict(tuple(model_data.models.groupby("model_id", sort=False))) if len(model_data.models) else {}
        evals = model_data.evaluations
        by_model = dict(tuple(evals.groupby("model_id", sort=False))) if len(evals) else {}
        latest = _latest(evals)
        latest_by_model = dict(tuple(latest.groupby("model_id", sort=False))) if len(latest) else {}
        empty_evals, empty_latest = evals.iloc[:0], latest.iloc[:0]
        for model_id in ids:
            row = models.get(model_id)
            per_model[model_id] = (
                None if row is None else row.iloc[0],
                by_model.get(model_id, empty_evals),
                latest_by_model.get(model_id, empty_latest),
            )
    for model_id in ids:
        page = _model_page(
            results, model_id, rows.loc[model_id], model_data, per_model.get(model_id), folder, names[model_id],
            model_id in with_figures, max_figure_models, title,
        )  # fmt: skip
        (folder / names[model_id]).write_text(page, encoding="utf-8")
    return {m: f"{MODELS_DIR}/{n}" for m, n in names.items()}


def _model_page(
    results: AnalysisResults,
    model_id: str,
    standing: pd.Series,
    model_data: ModelReportData | None,
    own: tuple | None,
    folder: Path,
    filename: str,
    draw: bool,
    cap: int,
    report_title: str,
) -> str:
    thresholds = results.config.thresholds
    parts = [
        f'<p><a href="../index.html">← {html.escape(report_title)}</a></p><h1>Model {html.escape(model_id)}</h1>',
        "<h2>Standing in the analysis</h2>",
        _kv({k: v for k, v in standing.items()}),
    ]
    # own: this model's (models row or None, evaluations, latest evaluations), split out by write_model_pages
    model_row, evals, latest = own if own is not None else (None, pd.DataFrame(), _latest(None))
    parts.append("<h2>Metadata and provenance</h2>")
    if model_row is not None:
        parts.append(_kv({k: v for k, v in model_row.items() if k != "model_id"}))
    elif model_id in results.table.metadata.index:
        parts.append(_kv(dict(results.table.metadata.loc[model_id].items())))
    else:
        parts.append("<p>(no metadata)</p>")
    parts.append("<h2>Values</h2>")
    if model_data is not None:
        ok = latest[(latest["status"] == "ok") & latest["name"].notna()]
        parts.append(_values_table(ok, thresholds))
        failed = evals[evals["status"] == "failed"] if "status" in evals else evals
        parts.append("<h2>Failed evaluations</h2>")
        if failed.empty:
            parts.append("<p>None.</p>")
        else:
            cols = [c for c in ("property_label", "config_hash", "reason", "wall_time_s", "created") if c in failed]
            parts.append(html_table(failed[cols].drop_duplicates(), rows=None))
        parts.append("<h2>Figures</h2>")
        if draw:
            parts.append(_figures(model_id, ok, latest, model_data, folder, filename))
        else:
            parts.append(
                f"<p>(figures are drawn for at most {cap} models of a report, the best by thresholds met and the "
                "Pareto-optimal first; this page is table-only)</p>"
            )
    else:
        parts.append(_errors_only_table(results, model_id, thresholds))
    return html_page(f"{model_id} — {report_title}", "\n".join(parts))


def _values_table(ok: pd.DataFrame, thresholds: Mapping[str, float]) -> str:
    if ok.empty:
        return "<p>(no stored values)</p>"
    frame = pd.DataFrame(
        {
            "property": ok["property_label"].to_numpy(),
            "value name": ok["name"].to_numpy(),
            "unit": ok["unit"].to_numpy(),
            "value": ok["value"].to_numpy(dtype=float),
            "reference": ok["reference"].to_numpy(dtype=float),
            "absolute_error": ok["absolute_error"].to_numpy(dtype=float),
        }
    )
    frame["threshold"] = [thresholds.get(n, math.nan) for n in frame["value name"]]
    frame["within_threshold"] = [
        ("yes" if e <= t else "no") if not math.isnan(t) and not math.isnan(e) else ("no" if not math.isnan(t) else "—")
        for e, t in zip(frame["absolute_error"], frame["threshold"], strict=True)
    ]
    if "reference_source" in ok.columns:
        frame["reference_source"] = ok["reference_source"].to_numpy()
    in_unit = ("value", "reference", "absolute_error", "threshold")
    return html_table(frame, rows=None, units=dict.fromkeys(in_unit, ROW_UNIT))


def _errors_only_table(results: AnalysisResults, model_id: str, thresholds: Mapping[str, float]) -> str:
    if model_id not in results.table.errors.index:
        return "<p>(not in the analysed table)</p>"
    errors = results.table.errors.loc[model_id]
    frame = pd.DataFrame({"value name": errors.index, "absolute_error": errors.to_numpy(dtype=float)})
    frame["threshold"] = [thresholds.get(n, math.nan) for n in frame["value name"]]
    frame["within_threshold"] = [
        "—" if math.isnan(t) else ("yes" if not math.isnan(e) and e <= t else "no")
        for e, t in zip(frame["absolute_error"], frame["threshold"], strict=True)
    ]
    missing = int(errors.isna().sum())
    note = (
        "<p>From the error table only (no results store): values, references, failure reasons and figures are not "
        f"available. {missing} value(s) missing (failed or not evaluated).</p>"
    )
    units = {str(n): value_unit(str(n)) for n in frame["value name"]}
    shown = with_unit_column(frame, "value name", units)
    return note + html_table(shown, rows=None, units=dict.fromkeys(("absolute_error", "threshold"), ROW_UNIT))


def _figures(
    model_id: str,
    ok: pd.DataFrame,
    latest: pd.DataFrame,
    model_data: ModelReportData,
    folder: Path,
    filename: str,
) -> str:
    stem = filename[: -len(".html")]
    out = []
    for label in dict.fromkeys(latest.loc[latest["status"] == "ok", "property_label"]):
        details = model_data.details_for(model_id, str(label))
        if not details:
            continue
        rows = ok[ok["property_label"] == label]
        values = {
            str(n).removeprefix(f"{label}."): (float(v), float(r))
            for n, v, r in zip(rows["name"], rows["value"], rows["reference"], strict=True)
        }
        for key, caption, figure in property_figures(details, values, title=f"{label} — {model_id}"):
            out.append(saved_figure_html(figure, folder, stem, str(label), key, caption))
    return "\n".join(out) if out else "<p>(no stored details of a property family with a figure)</p>"


def saved_figure_html(figure: Any, folder: Path, stem: str, label: str, key: str, caption: str) -> str:
    """Save one property figure of a model page under ``folder/figures`` and return its ``<figure>`` element."""
    safe_label = re.sub(r"[^A-Za-z0-9._-]", "_", label)
    path = f"figures/{stem}__{safe_label}__{key}.png"
    figure.savefig(folder / path, dpi=90)
    return (
        f'<figure><img src="{html.escape(path)}" alt="{html.escape(f"{label} {key}")}">'
        f"<figcaption>{html.escape(f'{caption} ({label})')}</figcaption></figure>"
    )


def _kv(values: Mapping[str, Any]) -> str:
    rows = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            inner = _kv(value) if value else "—"
            rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{inner}</td></tr>")
        else:
            text = "—" if isinstance(value, str) and not value else format_cell(value)
            rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"
