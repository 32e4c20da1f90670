"""``mlipscope analyze --db`` on one model or a few: each model judged against its acceptable errors.

**Few models.** The ensemble analysis (:func:`mlipscope.analysis.run_all`) guards each of its statements by a
minimum number of models (``analysis.min_*``, :data:`~mlipscope.analysis.config.MINIMUM_SIZES`); a database with
fewer models than the smallest of them (10 by default; :func:`ensemble_minimum`) gets the single-model report
(:mod:`mlipscope.report.single_model`) instead. One model always does (a minimum size is at least 2); lowering the
minimum sizes in the analysis config (``--config``) gives two or more models the ensemble analysis.

**Acceptable errors.** As for ``mlipscope benchmark`` and a run's report
(:func:`mlipscope.properties.acceptable_errors.acceptable_errors`): the reference file's ``thresholds``, the
cheaper-DFT errors, the study's published acceptable errors, then the analysis config's ``thresholds`` (``--config``)
on top. Which reference file: the one given to ``analyze`` (``--reference``/``--material``), else the one each model
was benchmarked against, which ``mlipscope benchmark`` records in the database (:func:`record_model_context`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlipscope.errors import InputError
from mlipscope.store.protocol import ResultStore

if TYPE_CHECKING:
    import pandas as pd

    from mlipscope.analysis import AnalysisConfig
    from mlipscope.materials import Material

#: the meta entry of a model's material and reference spec (one per model, JSON)
CONTEXT_META_PREFIX = "model_context:"
CALCULATOR_PREFIX = "calc:"


def record_model_context(
    store: ResultStore, model_id: str, material: Material | str | None, reference_spec: str | None
) -> None:
    """Record the material (a :class:`~mlipscope.materials.Material`, its name or file) and reference spec a model
    is benchmarked with, so that ``analyze --db`` later applies that reference's acceptable errors. Files are
    recorded by absolute path (analyze may run elsewhere), shipped materials by name."""
    store.set_meta(
        CONTEXT_META_PREFIX + model_id,
        json.dumps({"material": material_spec(material), "reference": _absolute_spec(reference_spec)}),
    )


def recorded_context(store: ResultStore, model_id: str) -> dict[str, str | None] | None:
    """The material and reference spec recorded for ``model_id`` (None: none recorded)."""
    raw = store.get_meta(CONTEXT_META_PREFIX + model_id)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return {"material": data.get("material"), "reference": data.get("reference")} if isinstance(data, dict) else None


def material_spec(material: Material | str | None) -> str | None:
    """A spec :func:`~mlipscope.materials.load_material` reads back: a shipped material's name, else its file."""
    from mlipscope.materials import Material, shipped_dir

    if material is None:
        return None
    if isinstance(material, Material):
        source = Path(material.source) if material.source else None
        if source is None or source.resolve().parent == shipped_dir().resolve():
            return material.name
        return str(source.resolve())
    return _absolute_spec(str(material))


def _absolute_spec(spec: str | None) -> str | None:
    if spec is None or spec.startswith(CALCULATOR_PREFIX):
        return spec
    path = Path(spec)
    return str(path.resolve()) if path.is_file() else spec


def ensemble_minimum(config: AnalysisConfig) -> tuple[int, list[str]]:
    """The smallest minimum size of the ensemble analysis (an :class:`~mlipscope.analysis.AnalysisConfig`) and the
    settings that give it: below it the analysis can rank no type and draw no graph."""
    from mlipscope.analysis.config import MINIMUM_SIZES

    smallest = min(int(getattr(config, name)) for name in MINIMUM_SIZES)
    return smallest, [f"analysis.{name}" for name in MINIMUM_SIZES if getattr(config, name) == smallest]


def use_single_model_report(n_models: int, config: AnalysisConfig) -> bool:
    """Whether a database with ``n_models`` models (with a stored evaluation) gets the single-model report."""
    return 1 <= n_models < ensemble_minimum(config)[0]


@dataclass(frozen=True)
class ThresholdOrigin:
    """Where one model's acceptable errors come from: a material and a reference spec (either may be None), and
    how they were found (shown on the model's page)."""

    material: str | None
    reference: str | None
    how: str

    def describe(self) -> dict[str, str]:
        return {"material": self.material or "—", "reference": self.reference or "—", "found": self.how}


def threshold_origin(
    store: ResultStore, model_id: str, reference: str | None = None, material: str | None = None
) -> ThresholdOrigin:
    """``--reference``/``--material`` when given (the reference defaults to the material's file, the material to
    the recorded one), else what ``benchmark`` recorded for the model, else nothing."""
    context = recorded_context(store, model_id)
    if reference is not None or material is not None:
        chosen = material if material is not None else (context or {}).get("material")
        return ThresholdOrigin(chosen, reference or "material", "given to mlipscope analyze")
    if context is None:
        return ThresholdOrigin(None, None, "none recorded for this model: give analyze --reference or --material")
    return ThresholdOrigin(context["material"], context["reference"], "recorded by mlipscope benchmark")


def reference_acceptable_errors(labels: Iterable[str], origin: ThresholdOrigin) -> dict[str, tuple[float, str]]:
    """value name -> (acceptable error, source) of the reference (and material) of ``origin`` for the values of
    the property ``labels``: the file's thresholds, cheaper-DFT errors and published acceptable errors
    (:func:`~mlipscope.properties.acceptable_errors.acceptable_errors`). Raises what loading them raises."""
    from mlipscope.materials import load_material
    from mlipscope.properties.acceptable_errors import acceptable_errors
    from mlipscope.properties.suite import material_entries
    from mlipscope.runner.references import load_reference

    spec = origin.reference
    if spec is None or spec == "none" or spec.startswith(CALCULATOR_PREFIX):
        return {}  # no reference file: a reference calculator has no acceptable errors of its own
    wanted = set(labels)
    material = load_material(origin.material)
    reference = load_reference(spec, material)
    # the material's properties of these labels: their datasets give the cheaper-DFT errors
    properties = [e.build(None, material=material) for e in material_entries(material) if e.label in wanted]
    chosen, _ = acceptable_errors(properties, reference)
    # the file's thresholds of stored labels the material has no entry for (e.g. a run config's own test sets)
    thresholds = getattr(reference, "thresholds", {}) or {}
    return {**{k: v for k, v in thresholds.items() if k.split(".", 1)[0] in wanted}, **chosen}


def config_thresholds(settings: dict[str, Any], config_path: Path | None) -> dict[str, tuple[float, str]]:
    """The analysis config's ``thresholds`` with their sources (``threshold_sources``, else the config file)."""
    from mlipscope.analysis import AnalysisConfig

    config = AnalysisConfig.from_dict(settings, source=config_path)
    where = f"analysis config {config_path}" if config_path is not None else "analysis config"
    return {k: (float(v), config.threshold_sources.get(k, where)) for k, v in config.thresholds.items()}


def latest_records(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of the latest evaluation (by ``created``) of each (model, property label), oldest first: what the
    error table counts (:func:`mlipscope.analysis.table.wide_error_table`)."""
    order = records.sort_values("created", kind="stable")
    latest = order.drop_duplicates(["model_id", "property_label"], keep="last")
    key = ["model_id", "property_label", "config_hash"]
    return order.merge(latest[key], on=key)


def single_model_report(
    store: ResultStore,
    settings: dict[str, Any],
    out_dir: Path,
    *,
    title: str,
    config_path: Path | None = None,
    reference: str | None = None,
    material: str | None = None,
) -> Path:
    """Write the single-model report of the models of an open ``store`` that have a stored evaluation."""
    from mlipscope.analysis import AnalysisConfig
    from mlipscope.report.single_model import ModelVerdict, write_single_model_report
    from mlipscope.report.verdict import verdict

    overrides = config_thresholds(settings, config_path)
    records = latest_records(store.records())
    models = store.models().set_index("model_id")
    ids = [m for m in dict.fromkeys(records["model_id"]) if m in models.index]
    explicit = reference is not None or material is not None
    cache: dict[tuple, tuple[dict[str, tuple[float, str]], str]] = {}
    entries = []
    for model_id in ids:
        own = records[records["model_id"] == model_id]
        origin = threshold_origin(store, model_id, reference, material)
        labels = tuple(sorted(set(own["property_label"])))
        if (origin, labels) not in cache:
            cache[(origin, labels)] = _acceptable(labels, origin, explicit=explicit)
        acceptable, note = cache[(origin, labels)]
        about = {"model_id": model_id, **models.loc[model_id].to_dict()}
        failed = own.loc[own["status"] != "ok", ["property_label", "failure_kind", "reason"]].drop_duplicates()
        ok = own[own["status"] == "ok"]
        hashes = set(zip(ok["property_label"], ok["config_hash"], strict=True))
        details = {k.property_label: d for k, d in store.details([model_id]).items() if (k[1], k[2]) in hashes}
        from_ = origin.describe() | ({"note": note} if note else {})
        if overrides:
            from_["analysis config thresholds"] = f"{len(overrides)} (they take precedence)"
        entries.append(
            ModelVerdict(model_id, about, verdict(own, {**acceptable, **overrides}), failed.reset_index(drop=True),
                         from_, details)
        )  # fmt: skip
    smallest, names = ensemble_minimum(AnalysisConfig.from_dict(settings, source=config_path))
    why = (
        f"This database holds {len(ids)} model(s) with stored results, fewer than the {smallest} the ensemble "
        f"analysis needs ({', '.join(names)}): each model is judged on its own, every value against its reference "
        "and its acceptable error."
    )
    if len(ids) >= 2:
        why += (
            f" For the ensemble analysis of these {len(ids)} models, set one of its minimum sizes (analysis.min_*) "
            f"to at most {len(ids)} in the analysis config (--config)."
        )
    return write_single_model_report(entries, out_dir, title=title, why=why)


def _acceptable(
    labels: Iterable[str], origin: ThresholdOrigin, *, explicit: bool
) -> tuple[dict[str, tuple[float, str]], str]:
    """(acceptable errors, a note for the page). A reference given to analyze that cannot be read is an error; a
    recorded one that can no longer be read (a moved file) is a note, and its values are not judged."""
    if (origin.reference or "").startswith(CALCULATOR_PREFIX):
        return {}, "a reference calculator has no acceptable errors of its own: give them in the analysis config"
    try:
        return reference_acceptable_errors(labels, origin), ""
    except (InputError, OSError) as exc:
        if explicit:
            raise
        return {}, f"the recorded reference could not be read ({exc}): its acceptable errors are not applied"


def ensemble_thresholds(
    store: ResultStore,
    model_ids: Iterable[str],
    labels: Iterable[str],
    settings: dict[str, Any],
    *,
    reference: str | None = None,
    material: str | None = None,
) -> tuple[dict[str, Any], str]:
    """``settings`` with the reference file's acceptable errors under the config's own (which win), for the
    ensemble analysis of a database, and a note naming the reference (shown in the report). The reference is the one
    given, else the one every model was benchmarked against; models recorded with different references (or none)
    get none, and the note says so."""
    from mlipscope.materials import DEFAULT_MATERIAL

    origins = {threshold_origin(store, m, reference, material) for m in model_ids}
    known = {(o.material, o.reference) for o in origins}
    if len(known) != 1 or (None, None) in known:
        why = "no reference recorded" if known == {(None, None)} else "the models were benchmarked differently"
        return settings, f"reference-file acceptable errors not applied ({why}): give analyze --reference/--material"
    origin = next(iter(origins))
    acceptable, note = _acceptable(labels, origin, explicit=reference is not None or material is not None)
    note = note or f"reference {origin.reference} of material {origin.material or DEFAULT_MATERIAL} ({origin.how})"
    own = dict(settings.get("thresholds") or {})
    out = dict(settings)
    out["thresholds"] = {**{k: v for k, (v, _) in acceptable.items()}, **own}
    sources = {k: s for k, (_, s) in acceptable.items() if k not in own}
    out["threshold_sources"] = {**sources, **(settings.get("threshold_sources") or {})}
    return out, note
