"""The report's dynamics section: models chosen by RE metrics vs by force RMSE, their MD diffusion (Arrhenius
figure, typed outcomes, NEB consistency) and MD survival (Kaplan–Meier curves, failure rates)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlipscope.analysis.dynamics import dynamics_comparison, survival_table
from mlipscope.properties.md import MDRun
from mlipscope.report.figures_dynamics import arrhenius_set_figure, survival_figure
from mlipscope.report.labels import column_units
from mlipscope.report.tables import html_table
from mlipscope.store.md_runs import md_runs_by_model

#: store meta key of the dynamics stage's selection (groups of model ids and the property labels)
SELECTION_META_KEY = "dynamics_selection"


@dataclass
class DynamicsReport:
    groups: dict[str, list[str]]  # selection group -> model ids
    labels: list[str]  # the dynamics property labels
    comparison: pd.DataFrame  # analysis.dynamics.dynamics_comparison
    details: dict[str, dict[str, dict[str, Any]]]  # label -> model id -> evaluation details (ok or failed)
    runs_by_model: dict[str, list[MDRun]]
    survival: pd.DataFrame  # per model: md_survival.* values
    outcomes: pd.DataFrame  # label x outcome: number of models
    reference_ea_ev: dict[str, float] = field(default_factory=dict)  # label -> reference activation energy
    not_available: dict[str, str] = field(default_factory=dict)  # value name (glob) -> why there is no reference
    note: str = ""  # how the models were chosen (k, candidates, cost limit)

    @classmethod
    def from_store(cls, store, values: pd.DataFrame, errors: pd.DataFrame, reference=None,
                   thresholds: dict[str, float] | None = None) -> DynamicsReport | None:  # fmt: skip
        """The section's data, or None when the store holds no dynamics stage. ``values``/``errors``: wide tables
        of values and |errors| (model x value name)."""
        raw = store.get_meta(SELECTION_META_KEY)
        if not raw:
            return None
        selection = json.loads(raw)
        groups, labels = selection["groups"], selection["labels"]
        ids = sorted({m for members in groups.values() for m in members})
        evaluations = store.records()
        latest = evaluations[["model_id", "property_label", "config_hash", "status"]].drop_duplicates()
        details: dict[str, dict[str, dict[str, Any]]] = {label: {} for label in labels}
        outcome_counts: dict[str, dict[str, int]] = {label: {} for label in labels}
        stored = store.details(ids)  # one read for the chosen models
        for model_id, label, config_hash, status in latest.itertuples(index=False):
            if label not in details or model_id not in ids:
                continue
            d = stored.get((model_id, label, config_hash)) or {}
            details[label][model_id] = d
            kind = "ok" if status == "ok" else d.get("failure_kind", "failed (other)")
            outcome_counts[label][kind] = outcome_counts[label].get(kind, 0) + 1
        runs = md_runs_by_model(store, labels)
        survival = survival_table(runs)
        comparison = dynamics_comparison(values, errors, groups, survival, thresholds or {}, labels)
        ref_values = getattr(reference, "values", {}) or {}
        return cls(
            groups=groups,
            labels=labels,
            comparison=comparison,
            details=details,
            runs_by_model=runs,
            survival=survival,
            outcomes=pd.DataFrame(outcome_counts).T.fillna(0).astype(int),
            reference_ea_ev={
                label: ref_values[f"{label}.activation_energy_ev"][0]
                for label in labels
                if f"{label}.activation_energy_ev" in ref_values
            },
            not_available=dict(getattr(reference, "not_available", {}) or {}),
            note=_selection_note(selection),
        )

    def group_of(self) -> dict[str, str]:
        """Model id -> its group ("both" when both selections chose it)."""
        out: dict[str, str] = {}
        for group, members in self.groups.items():
            for m in members:
                out[m] = "both" if m in out and out[m] != group else group
        return out


def draw_dynamics_figures(dyn: DynamicsReport, figures_dir: Path) -> dict[str, str]:
    """Arrhenius figure per dynamics property and the survival figure; returns key -> relative path."""
    drawn: dict[str, str] = {}
    group_of = dyn.group_of()
    for label in dyn.labels:
        fig = arrhenius_set_figure(dyn.details.get(label, {}), group_of, dyn.reference_ea_ev.get(label), title=label)
        if fig is not None:
            fig.savefig(figures_dir / f"arrhenius_{label}.png", dpi=110)
            drawn[f"arrhenius_{label}"] = f"figures/arrhenius_{label}.png"
    runs_by_group = {
        group: [r for m in members for r in dyn.runs_by_model.get(m, [])] for group, members in dyn.groups.items()
    }
    fig = survival_figure(runs_by_group, title="MD survival of the dynamics runs")
    if fig is not None:
        fig.savefig(figures_dir / "md_survival.png", dpi=110)
        drawn["md_survival"] = "figures/md_survival.png"
    return drawn


def dynamics_section(dyn: DynamicsReport, drawn: dict[str, str], links: dict[str, str] | None = None) -> str:
    """HTML of the section (figures already drawn by :func:`draw_dynamics_figures`)."""
    links = links or {}
    parts = [
        "<p>Models chosen in this run: "
        + "; ".join(
            f"<b>{html.escape(g)}</b>: " + ", ".join(_linked(m, links) for m in members)
            for g, members in dyn.groups.items()
        )
        + f". {html.escape(dyn.note)} Each ran the MD diffusion suite; a temperature that melts, loses its defect, "
        "explodes or sees too few hops is a typed outcome, never a value.</p>",
        _verdict(dyn.comparison),
        html_table(dyn.comparison.round(4), units=column_units(dyn.comparison.columns)),
    ]
    for label in dyn.labels:
        key = f"arrhenius_{label}"
        if key in drawn:
            ref = dyn.reference_ea_ev.get(label)
            caption = f"{label}: D ± SE per temperature and Arrhenius fits" + (
                f"; dashed: the reference slope (Ea = {ref:.2f} eV)" if ref is not None else ""
            )
            parts.append(
                f'<figure><img src="{drawn[key]}" alt="{key}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            )
    parts.append("<h3>Outcomes</h3>" + html_table(dyn.outcomes.rename_axis("property").reset_index()))
    if "md_survival" in drawn:
        parts.append(
            f'<figure><img src="{drawn["md_survival"]}" alt="md_survival"><figcaption>Kaplan–Meier survival of the '
            "MD runs (failure: melting, explosion, defect loss; censored at the run length)</figcaption></figure>"
        )
    if len(dyn.survival):
        table = dyn.survival.rename_axis("model_id").reset_index()
        table.insert(1, "group", table["model_id"].map(dyn.group_of()))
        parts.append(
            "<h3>MD survival per model</h3>" + html_table(table, links=links, units=column_units(table.columns))
        )
    if dyn.not_available:
        rows = pd.DataFrame(
            {"value": list(dyn.not_available), "why there is no reference": list(dyn.not_available.values())}
        )
        parts.append("<h3>Values without a reference</h3>" + html_table(rows))
    return "\n".join(parts)


def _selection_note(selection: dict[str, Any]) -> str:
    note = f"k = {selection.get('k')} per selection among {selection.get('n_candidates', '?')} candidate models"
    if selection.get("n_excluded_by_cost"):
        note += (
            f"; {selection['n_excluded_by_cost']} left out by the cost limit of "
            f"{selection.get('max_cost_s_per_atom_step'):g} s per atom-step"
        )
    return note + "."


def _linked(model_id: str, links: dict[str, str]) -> str:
    text = html.escape(model_id)
    return f'<a href="{html.escape(links[model_id])}">{text}</a>' if model_id in links else text


def _verdict(comparison: pd.DataFrame) -> str:
    """One sentence per property: which group's median |Ea error| is lower."""
    lines = []
    for label, rows in comparison.groupby("property"):
        by_group = rows.set_index("group")["median_abs_ea_error_ev"]
        finite = by_group.dropna()
        if len(finite) < 2:
            fits = ", ".join(f"{g}: {int(n)} fit(s)" for g, n in rows.set_index("group")["n_arrhenius_fits"].items())
            lines.append(f"{label}: too few Arrhenius fits to compare ({fits}).")
            continue
        best = finite.idxmin()
        others = ", ".join(f"{g} {v:.3f} eV" for g, v in finite.items() if g != best)
        lines.append(
            f"{label}: models chosen by <b>{html.escape(str(best))}</b> have the lower median |Ea error| "
            f"({finite[best]:.3f} eV vs {others})."
        )
    return "<p>" + "<br>".join(lines) + "</p>" if lines else ""
