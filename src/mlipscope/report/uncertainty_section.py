"""The report's section "Does disagreement know when it is wrong?": ensemble disagreement calibrated against the
errors it should predict.

Read from any :class:`~mlipscope.store.protocol.ResultStore` (through
:class:`~mlipscope.report.model_pages.ModelReportData`): the per-frame errors of every dataset evaluation
(``details["frames"]`` of ``errors_*`` and ``re_*``, :class:`~mlipscope.properties.frame_data.FrameErrors`) of the
ok models, their families (the groups), the value table with references, and the acceptable errors the analysis
used. The rare-event (RE) atom masks are not stored in the details, so they are read from the dataset files named
by ``details["dataset"]`` (``r_migrating == 0``, see :func:`mlipscope.properties.rare_events.re_mask`); a dataset
that cannot be found is named in the notes.

Computed with :mod:`mlipscope.analysis.frame_uncertainty` (per frame and force component) and
:mod:`mlipscope.analysis.property_uncertainty` (per property value). A group (all members, or one family) with
fewer than :data:`MIN_MEMBERS` members gets no numbers: the standard deviation of a handful of models says little.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ConstantInputWarning

from mlipscope.analysis.calibration import calibration_curve, ensemble_spread_and_error
from mlipscope.analysis.frame_uncertainty import frame_uncertainty_table, stack_predictions
from mlipscope.analysis.property_uncertainty import coverage, property_spreads, spread_vs_difficulty
from mlipscope.analysis.uncertainty import format_interval
from mlipscope.properties.frame_data import FrameErrors
from mlipscope.report.labels import value_unit
from mlipscope.report.tables import ROW_UNIT, html_table, with_unit_column

MIN_MEMBERS = 5
SECTION_TITLE = "Does disagreement know when it is wrong?"
MIN_POINTS_TO_SIZE = 50  # a scale factor fitted on half of fewer points is mostly noise
#: the reference source :func:`mlipscope.properties.references.compare` gives values that are errors already
#: (dataset RMSEs, RE metrics): they have no predicted value to spread, so the per-property part skips them
ERROR_METRIC_SOURCE = "DFT labels of the dataset"
DETAILS_CHUNK = 100  # models whose details are read at once: bounds memory for thousands of members
QUANTITY_WORDS = {
    "energy_per_atom": ("energy errors (per frame, eV/atom)", "eV/atom"),
    "force_component": ("force errors (per component, eV/Å)", "eV/Å"),
    "force_rare_event_atoms": ("force errors on rare-event atoms", "eV/Å"),
    "force_other_atoms": ("force errors on the other atoms", "eV/Å"),
}
DetailsReader = Callable[[list[str]], Mapping[tuple[str, str], Mapping[str, Any]]]


@dataclass
class EnsembleFrames:
    """Per dataset evaluation (its property label): each ok model's stored frame errors, the dataset it names, the
    RE atom masks of its frames (frame index -> mask over the frame's atoms) where the dataset labels them, and the
    model families."""

    frames: dict[str, dict[str, FrameErrors]]
    datasets: dict[str, str]
    types: dict[str, str]
    rare_event_atoms: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_ensemble_frames(
    models: pd.DataFrame, evaluations: pd.DataFrame, read_details: DetailsReader
) -> EnsembleFrames:
    """The frames of every ok dataset evaluation of the ok models. ``evaluations``: long form with ``model_id``,
    ``property_label``, ``status``; ``read_details``: model ids -> {(model_id, label): latest details}. Details
    of either layout (:class:`FrameErrors`) are read; unreadable ones are named in the notes."""
    ok = models[models["status"] == "ok"] if len(models) else models
    types = {str(m): str(f) for m, f in zip(ok.get("model_id", []), ok.get("family", []), strict=True)}
    done = evaluations[evaluations["status"] == "ok"] if len(evaluations) else evaluations
    wanted = set() if done.empty else set(zip(done["model_id"], done["property_label"], strict=True))
    ids = sorted({m for m, _ in wanted} & set(types))
    frames: dict[str, dict[str, FrameErrors]] = {}
    datasets: dict[str, str] = {}
    unreadable: dict[str, int] = {}
    for start in range(0, len(ids), DETAILS_CHUNK):
        for (model_id, label), details in read_details(ids[start : start + DETAILS_CHUNK]).items():
            stored = details.get("frames") if isinstance(details, Mapping) else None
            if (model_id, label) not in wanted or stored is None or len(stored) == 0:
                continue
            try:
                errors = FrameErrors.from_details(stored)
            except (ValueError, KeyError, TypeError):
                unreadable[label] = unreadable.get(label, 0) + 1
                continue
            frames.setdefault(label, {})[model_id] = errors
            # the compact layout names the dataset by what loads it (a path too); the old one by its name only
            datasets.setdefault(label, errors.dataset or str(details.get("dataset", label)))
    notes = [f"{label}: {n} models' stored frames could not be read, left out" for label, n in unreadable.items()]
    out = EnsembleFrames(frames, datasets, {m: types[m] for m in ids}, notes=notes)
    for label in frames:
        _add_rare_event_atoms(out, label)
    return out


def _add_rare_event_atoms(ensemble: EnsembleFrames, label: str) -> None:
    """Masks of the RE atoms (``r_migrating == 0``) of the frames of ``label``'s dataset, where labelled."""
    from mlipscope.properties.rare_events import RE_LABEL_KEYS, re_mask

    frames = load_dataset_frames(ensemble.datasets[label])
    if frames is None:
        ensemble.notes.append(f"{label}: dataset {ensemble.datasets[label]!r} not found, so no rare-event split")
        return
    sizes = {
        int(i): int(n)
        for errors in ensemble.frames[label].values()
        for i, n in zip(errors.index, errors.n_atoms, strict=True)
    }
    masks = {
        i: re_mask(frames[i])
        for i, n in sizes.items()
        if i < len(frames) and len(frames[i]) == n and any(k in frames[i].arrays for k in RE_LABEL_KEYS)
    }
    if masks:
        ensemble.rare_event_atoms[label] = masks


def load_dataset_frames(spec: str) -> list | None:
    """The frames of a stored dataset name (a shipped example name or a file path); None when not found (details
    of the old layout name a file given by path by its stem only)."""
    from mlipscope.errors import InputError
    from mlipscope.properties.dataset_errors import load_dataset

    try:
        return list(load_dataset(spec).frames)
    except (InputError, OSError):
        return None


@dataclass
class UncertaintyReport:
    """What the section shows (see the module docstring); ``omitted`` says why there is no section."""

    n_models: int
    type_sizes: dict[str, int]
    frame_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    curves: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict)  # (dataset, group, quantity)
    spreads: pd.DataFrame = field(default_factory=pd.DataFrame)  # property_spreads of the groups with numbers
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)  # group, k, n, share, low, high, expected
    difficulty: tuple[float, float, float, int] = (math.nan, math.nan, math.nan, 0)  # rho, low, high, n values
    verdicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    omitted: str = ""
    min_members: int = MIN_MEMBERS

    @classmethod
    def from_store(cls, store, thresholds: Mapping[str, float] | None = None, **kw: Any) -> UncertaintyReport:
        from mlipscope.report.model_pages import ModelReportData

        return cls.from_model_data(ModelReportData.from_store(store), thresholds, **kw)

    @classmethod
    def from_model_data(cls, data, thresholds: Mapping[str, float] | None = None, **kw: Any) -> UncertaintyReport:
        """From a :class:`~mlipscope.report.model_pages.ModelReportData` (the report's view of the store)."""
        from mlipscope.analysis.table import wide_error_table

        evaluations = data.evaluations
        ensemble = read_ensemble_frames(data.models, evaluations, details_reader(data))
        values = wide_error_table(evaluations, data.models, metric="value") if len(evaluations) else pd.DataFrame()
        return build_uncertainty_report(ensemble, values, property_references(evaluations), thresholds or {}, **kw)


def details_reader(data) -> DetailsReader:
    if data.details_of_models is not None:
        return data.details_of_models
    labels = data.evaluations.groupby("model_id")["property_label"].unique() if len(data.evaluations) else {}
    return lambda ids: {(m, p): d for m in ids for p in labels.get(m, []) if (d := data.details_for(m, p)) is not None}


def property_references(evaluations: pd.DataFrame) -> pd.Series:
    """Value name -> its latest finite reference, for values that are properties (not errors already)."""
    if evaluations.empty:
        return pd.Series(dtype=float)
    rows = evaluations[evaluations["name"].notna() & np.isfinite(evaluations["reference"].astype(float))]
    rows = rows[rows["reference_source"].fillna("") != ERROR_METRIC_SOURCE]
    return rows.sort_values("created", kind="stable").groupby("name")["reference"].last().astype(float)


def build_uncertainty_report(
    ensemble: EnsembleFrames,
    values: pd.DataFrame,
    references: pd.Series,
    thresholds: Mapping[str, float],
    *,
    min_members: int = MIN_MEMBERS,
) -> UncertaintyReport:
    """Every number of the section: frame calibration per dataset and group, per-property spreads, coverage at
    k = 1, 2 and spread vs difficulty (share of models outside the acceptable error), and the verdicts."""
    types = pd.Series(ensemble.types, dtype=object)
    if values is not None and len(values):
        types = values["family"].astype(str).combine_first(types) if "family" in values else types
    sizes = {str(t): int(n) for t, n in types.value_counts().items()}
    report = UncertaintyReport(len(types), sizes, notes=list(ensemble.notes), min_members=min_members)
    if len(types) < 2:
        report.omitted = (
            f"{len(types)} model{'s' if len(types) != 1 else ''} with stored results: there is no ensemble whose "
            "disagreement could be calibrated."
        )
        return report
    few = {t: n for t, n in sizes.items() if n < min_members}
    if len(types) < min_members:
        report.notes.append(f"all {len(types)} models: fewer than {min_members} members, so no numbers")
    if few:
        report.notes.append(
            f"fewer than {min_members} members, so no numbers: " + ", ".join(f"{t} ({n})" for t, n in few.items())
        )
    _frame_part(report, ensemble, min_members)
    _property_part(report, values, references, thresholds, types, min_members)
    report.verdicts = frame_verdicts(report.frame_table) + property_verdicts(report)
    return report


def _frame_part(report: UncertaintyReport, ensemble: EnsembleFrames, min_members: int) -> None:
    if not ensemble.frames:
        report.notes.append("no dataset evaluation stored per-frame predictions: no per-frame calibration")
        return
    report.frame_table = frame_uncertainty_table(
        ensemble.frames, ensemble.types, rare_event_atoms=ensemble.rare_event_atoms, min_members=min_members
    )
    for (dataset, group), _ in report.frame_table.groupby(["dataset", "group"], sort=False):
        by_model = ensemble.frames[dataset]
        members = [m for m in by_model if group == "all" or ensemble.types.get(m) == group]
        stacked = stack_predictions({m: by_model[m] for m in members})
        if stacked is None:
            continue
        for quantity, (pred, truth) in {
            "energy_per_atom": (stacked.energy_ev_atom, stacked.energy_dft_ev_atom),
            "force_component": (stacked.forces_ev_a, stacked.forces_dft_ev_a),
        }.items():
            spread, error = ensemble_spread_and_error(pred, truth)
            if not np.isfinite(spread).all():  # members without energies (a stored-forces "model")
                continue
            # about five points per bin at least: fewer make a bin's RMSE noise
            report.curves[(dataset, group, quantity)] = calibration_curve(
                spread, error, max(1, min(10, spread.size // 5))
            )


def _property_part(
    report: UncertaintyReport,
    values: pd.DataFrame,
    references: pd.Series,
    thresholds: Mapping[str, float],
    types: pd.Series,
    min_members: int,
) -> None:
    names = [c for c in references.index if values is not None and c in values.columns]
    if not names:
        report.notes.append("no property value with a reference: no per-property spreads")
        return
    table = values[names].astype(float)
    limits = pd.Series({k: float(v) for k, v in thresholds.items() if k in names}, dtype=float)
    spreads = property_spreads(table, references, limits, types.reindex(table.index), min_members=min_members)
    report.spreads = spreads.dropna(subset=["spread"]).reset_index(drop=True)
    rows = []
    for group, block in report.spreads.groupby("group", sort=False):
        rows += [{"group": group, **coverage(block, k)} for k in (1.0, 2.0)]
    report.coverage = pd.DataFrame(rows)
    if not limits.empty and not report.spreads.empty:
        errors = (table[limits.index] - references[limits.index]).abs()
        met = errors.le(limits, axis=1)  # NaN (a failed evaluation) counts as not meeting, as in the ranking
        difficulty = 1.0 - met.mean()
        with warnings.catch_warnings():  # resamples with tied values: NaN draws, left out of the interval
            warnings.simplefilter("ignore", ConstantInputWarning)
            report.difficulty = spread_vs_difficulty(report.spreads[report.spreads["group"] == "all"], difficulty)


def _interval(rho: float, low: float, high: float) -> str:
    return format_interval(rho, low, high)


def frame_verdicts(table: pd.DataFrame) -> list[str]:
    """One plain sentence per dataset about its force (and energy) spread over all members."""
    out = []
    for dataset, rows in table[table["group"] == "all"].groupby("dataset", sort=False) if len(table) else []:
        by_quantity = rows.set_index("quantity")
        parts = [_calibration_sentence(by_quantity.loc[q], q) for q in QUANTITY_WORDS if q in by_quantity.index][:2]
        if {"force_rare_event_atoms", "force_other_atoms"} <= set(by_quantity.index):
            re_row, other = by_quantity.loc["force_rare_event_atoms"], by_quantity.loc["force_other_atoms"]
            ratio = re_row["mean_spread"] / other["mean_spread"] if other["mean_spread"] > 0 else math.nan
            parts.append(
                f"on rare-event atoms the members' spread is {ratio:.2g}× that on the other atoms (mean "
                f"{re_row['mean_spread']:.3g} vs {other['mean_spread']:.3g} eV/Å), with rho "
                f"{_interval(re_row['spearman_rho'], re_row['rho_low'], re_row['rho_high'])} there"
            )
        n = int(rows["n_members"].iloc[0])
        out.append(f"{dataset} ({n} members): " + "; ".join(parts) + ".")
    return out


def _calibration_sentence(row: pd.Series, quantity: str) -> str:
    """ "ranks force errors well (rho 0.62 [0.58, 0.66]) but understates them by a factor 2.3: scale it ..."."""
    what = QUANTITY_WORDS[quantity][0]
    rho = _interval(row["spearman_rho"], row["rho_low"], row["rho_high"])
    if row["rho_low"] > 0.5:
        rank, ranks = f"ranks {what} well (rho {rho})", True
    elif row["rho_low"] > 0:
        rank, ranks = f"ranks {what} weakly (rho {rho})", True
    else:
        rank, ranks = f"does not rank {what} (rho {rho}: the interval reaches 0)", False
    s, n = row["scale_factor"], int(row["n_points"])
    if not math.isfinite(s):
        return f"the members' disagreement {rank}; its size could not be calibrated"
    if n < MIN_POINTS_TO_SIZE:
        return f"the members' disagreement {rank}; {n} points are too few to size it (factor {s:.2g})"
    if not row["checked_area_scaled"] < row["miscalibration_area"]:  # the factor fails on the held-out half
        return f"the members' disagreement {rank}; its fitted factor {s:.2g} does not improve the held-out half"
    if 1 / 1.5 <= s <= 1.5:
        return f"the members' disagreement {rank} and is about the right size (scale factor {s:.2g})"
    wrong = f"understates them by a factor {s:.2g}" if s > 1 else f"overstates them by a factor {1 / s:.2g}"
    return f"the members' disagreement {rank} {'but' if ranks else 'and'} {wrong}: scale it before use"


def property_verdicts(report: UncertaintyReport) -> list[str]:
    out = []
    cov = report.coverage
    row = cov[(cov["group"] == "all") & (cov["k"] == 2.0)] if len(cov) else cov
    if len(row) and row["n"].iloc[0] > 0:
        r = row.iloc[0]
        if r["high"] < r["expected"]:
            meaning = "the spread understates the property errors"
        elif r["low"] > r["expected"]:
            meaning = "the spread overstates the property errors"
        else:
            meaning = "consistent with a calibrated spread"
        out.append(
            "Properties: mean ± 2·spread covers the reference for "
            f"{format_interval(r['share'], r['low'], r['high'], percent=True)} of {int(r['n'])} values "
            f"({r['expected']:.0%} for a calibrated Gaussian spread): {meaning}."
        )
    rho, low, high, n = report.difficulty
    if n >= 4 and math.isfinite(rho):
        interval = format_interval(rho, low, high)
        if low > 0:
            text = f"the values the members disagree on most are the ones most models get wrong (rho {interval})"
        elif high < 0:
            text = f"the members disagree least on the values most models get wrong (rho {interval})"
        else:
            text = f"no evidence that the members disagree more on the harder values (rho {interval})"
        out.append(f"Over {n} values with an acceptable error, {text}.")
    return out


def write_uncertainty_outputs(report: UncertaintyReport, out_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Figures (figures/) and CSV tables (tables/) of the section; returns (drawn, tables), key -> relative path."""
    from mlipscope.report.figures_uncertainty import calibration_figure, property_spread_figure

    drawn: dict[str, str] = {}
    tables: dict[str, str] = {}
    if report.omitted:
        return drawn, tables
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    for dataset in dict.fromkeys(d for d, _, _ in report.curves):
        curves = {(g, q): c for (d, g, q), c in report.curves.items() if d == dataset}
        figure = calibration_figure(curves, title=dataset)
        if figure is not None:
            key = f"uncertainty_calibration_{dataset}"
            figure.savefig(out_dir / "figures" / f"{key}.png", dpi=110)
            drawn[key] = f"figures/{key}.png"
    figure = property_spread_figure(report.spreads)
    if figure is not None:
        figure.savefig(out_dir / "figures" / "uncertainty_properties.png", dpi=110)
        drawn["uncertainty_properties"] = "figures/uncertainty_properties.png"
    for key, frame in (("uncertainty_frames", report.frame_table), ("uncertainty_properties", report.spreads),
                       ("uncertainty_coverage", report.coverage)):  # fmt: skip
        if len(frame):
            frame.to_csv(out_dir / "tables" / f"{key}.csv", index=False)
            tables[key] = f"tables/{key}.csv"
    return drawn, tables


def _link(tables: Mapping[str, str], key: str) -> str:
    return f'<a href="{tables[key]}">{key}.csv</a>' if key in tables else ""


def _image(drawn: Mapping[str, str], key: str, caption: str) -> str:
    if key not in drawn:
        return ""
    text = f"<figcaption>{html.escape(caption)}</figcaption>"
    return f'<figure><img src="{drawn[key]}" alt="{html.escape(key)}">{text}</figure>'


def uncertainty_section(report: UncertaintyReport, drawn: Mapping[str, str], tables: Mapping[str, str]) -> str:
    """HTML of the section (figures and tables already written by :func:`write_uncertainty_outputs`)."""
    if report.omitted:
        return f'<p class="note">No section: {html.escape(report.omitted)}</p>'
    sizes = ", ".join(f"{html.escape(t)} {n}" for t, n in report.type_sizes.items())
    parts = [
        f"<p>{report.n_models} models ({sizes}). Spread: the members' standard deviation; error: the ensemble "
        f"mean's. Groups: all members and each family with at least {report.min_members} members. Intervals are "
        "95 %: bootstrap percentile intervals for rank correlations, Wilson score intervals for shares.</p>",
    ]
    if report.verdicts:
        parts.append("<h3>Verdict</h3><ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in report.verdicts) + "</ul>")
    if report.notes:
        parts.append('<ul class="note">' + "".join(f"<li>{html.escape(n)}</li>" for n in report.notes) + "</ul>")
    parts += _frame_html(report, drawn, tables) + _property_html(report, drawn, tables)
    return "\n".join(parts)


def _frame_html(report: UncertaintyReport, drawn: Mapping[str, str], tables: Mapping[str, str]) -> list[str]:
    table = report.frame_table
    if table.empty:
        return []
    shown = pd.DataFrame(
        {
            "dataset": table["dataset"],
            "group": table["group"],
            "quantity": table["quantity"],
            "unit": [quantity_unit(q) for q in table["quantity"]],
            "n members": table["n_members"],
            "n points": table["n_points"],
            "Spearman rho [95 % CI]": [
                _interval(*r) for r in table[["spearman_rho", "rho_low", "rho_high"]].to_numpy()
            ],
            "miscalibration area": table["miscalibration_area"],
            "scale factor": table["scale_factor"],
            "area after scaling (held-out half)": table["checked_area_scaled"],
            "top-10 % catch share": table["top_catch_share"],
            "mean spread": table["mean_spread"],
        }
    )
    figures = [
        _image(drawn, f"uncertainty_calibration_{d}", f"{d}: RMS error vs RMS spread per bin of spread")
        for d in dict.fromkeys(table["dataset"])
    ]
    return [
        "<h3>Per frame and per force component</h3>",
        "<p>Rank agreement of spread and |error| (Spearman rho), the miscalibration area of Gaussian intervals "
        "(0: calibrated, 0.5 at most), the factor that calibrates the spread (fitted on a random half, the area "
        "after scaling checked on the other), and the share of the 10 % largest errors among the 10 % most "
        "uncertain points (0.1 for a spread that knows nothing, 1 for a perfect ranking). Energies per atom "
        "(eV/atom), force components (eV/Å).</p>",
        *figures,
        html_table(shown, rows=None, units={"mean spread": ROW_UNIT}),
        f"<p>{_link(tables, 'uncertainty_frames')}</p>",
    ]


def quantity_unit(quantity: str) -> str:
    """Unit of a calibrated quantity: energies per atom, everything else force components."""
    return "eV/atom" if quantity.startswith("energy") else "eV/Å"


def _spreads_table(spreads: pd.DataFrame) -> str:
    """The per-value spreads, each row in its value's unit (z: in spreads, dimensionless)."""
    units = {name: value_unit(name) for name in spreads["value"].unique()}
    shown = with_unit_column(spreads, "value", units)
    columns = ("mean", "spread", "reference", "mean_error", "threshold")
    return html_table(shown, rows=25, units=dict.fromkeys(columns, ROW_UNIT))


def _property_html(report: UncertaintyReport, drawn: Mapping[str, str], tables: Mapping[str, str]) -> list[str]:
    if report.spreads.empty:
        return []
    cov = report.coverage
    shown = pd.DataFrame(
        {
            "group": cov["group"],
            "k": cov["k"],
            "n values": cov["n"],
            "share covered [95 % CI]": [
                format_interval(s, lo, hi, percent=True) for s, lo, hi in cov[["share", "low", "high"]].to_numpy()
            ],
            "calibrated Gaussian": [f"{e:.0%}" for e in cov["expected"]],
        }
    )
    rho, low, high, n = report.difficulty
    versus = (
        f"Spread vs difficulty (share of models outside the acceptable error): Spearman rho "
        f"{html.escape(_interval(rho, low, high))} over {n} values with an acceptable error."
        if n >= 4
        else f"Spread vs difficulty: not computed ({n} values with an acceptable error, 4 needed)."
    )
    return [
        "<h3>Per property value</h3>",
        f"<p>Share of values whose reference lies within the ensemble mean ± k·spread. {versus} Spreads and errors "
        "in each value's unit (tables/uncertainty_properties.csv).</p>",
        html_table(shown, rows=None),
        _image(drawn, "uncertainty_properties", "Per value: spread vs |error of the mean|, in acceptable errors"),
        _spreads_table(report.spreads),
        f"<p>{_link(tables, 'uncertainty_properties')} {_link(tables, 'uncertainty_coverage')}</p>",
    ]
