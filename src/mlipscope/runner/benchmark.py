"""Benchmark one potential on a property suite and store the results (``mlipscope benchmark``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlipscope.errors import InputError
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property
from mlipscope.properties.references import Reference
from mlipscope.properties.suite import build_suite, suite_entries
from mlipscope.runner.engine import Engine, Listener
from mlipscope.runner.evaluate import EvaluationOutcome
from mlipscope.runner.executors import InProcessExecutor, SandboxedExecutor
from mlipscope.runner.references import MATERIAL_REFERENCE, load_reference
from mlipscope.runner.single_model import record_model_context
from mlipscope.runner.work import Evaluated, Evaluation
from mlipscope.store.protocol import ModelRecord, ResultStore

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

#: where an error in a ``--set`` assignment comes from
SET_SOURCE = "mlipscope benchmark --set"

__all__ = [
    "MATERIAL_REFERENCE",
    "BenchmarkRun",
    "benchmark_calculator",
    "load_reference",
    "model_identity",
    "setting_overrides",
    "suite_properties",
]


@dataclass
class BenchmarkRun:
    model_id: str
    outcomes: list[EvaluationOutcome]
    skipped: list[str]
    stored_failures_skipped: int = 0  # of ``skipped``: stored failures not retried (``--retry-failed`` runs them)
    config_hashes: list[str] = field(default_factory=list)  # the stored keys of this run's evaluations


class _BenchmarkListener(Listener):
    def __init__(self, on_progress: Callable[[str, EvaluationOutcome | None], None] | None) -> None:
        self.on_progress = on_progress
        self.outcomes: list[EvaluationOutcome] = []
        self.skipped_labels: list[str] = []

    def skipped(self, evaluations: Sequence[Evaluation]) -> None:
        for evaluation in evaluations:
            self.skipped_labels.append(evaluation.prop.label)
            if self.on_progress:
                self.on_progress(evaluation.prop.label, None)

    def evaluated(self, done: Evaluated) -> None:
        self.outcomes.append(done.outcome)
        if self.on_progress:
            self.on_progress(done.outcome.property_label, done.outcome)


def benchmark_calculator(
    calculator_spec: str,
    properties: list[Property],
    reference: Reference | None,
    store: ResultStore,
    *,
    family: str = "external",
    calculator: Calculator | None = None,
    time_limit_s: float | None = None,
    on_progress: Callable[[str, EvaluationOutcome | None], None] | None = None,
    on_property_progress: Callable[[str, str, int, int], None] | None = None,
    isolate_with_reference: str | None = None,
    retry_failed: bool = False,
    max_attempts: int = 2,
    settings: dict[str, dict[str, Any]] | None = None,
) -> BenchmarkRun:
    """Evaluate ``properties`` for one calculator spec, storing each outcome as it completes (resumable): the
    engine's path with one model's evaluations. ``calculator``: the calculator built from the spec, if the caller
    already has it (else built on first need). ``isolate_with_reference``: a reference spec; evaluations then run
    in a sandbox child (:mod:`.sandbox`), so a crash or hang of the calculator is a stored failure and a hard time
    limit holds. ``settings``: the property settings changed from the suite's (:func:`setting_overrides`), part of
    the model's identity (:func:`model_identity`). ``on_progress(label, outcome)``: each property as it is stored
    (None: stored before); ``on_property_progress(label, unit, done, total)``: inside the running property (see
    :class:`~mlipscope.runner.executors.InProcessExecutor`)."""
    from mlipscope.store.provenance import model_id_for

    hyperparameters = model_identity(calculator_spec, properties[0].material if properties else None, settings)
    model_id = model_id_for(family, hyperparameters, None, "")
    store.put_model(ModelRecord(model_id, family, hyperparameters, path=calculator_spec))
    # the stored key holds the content of everything read: a changed dataset or reference is evaluated again
    reference_spec = isolate_with_reference or _spec_of(reference)
    # what `analyze --db` needs to judge this model against the same acceptable errors later
    record_model_context(store, model_id, properties[0].material if properties else None, reference_spec)
    evaluations = [Evaluation.of(model_id, calculator_spec, prop, reference_spec) for prop in properties]
    if isolate_with_reference is not None:
        executor: InProcessExecutor = SandboxedExecutor(time_limit_s, on_progress=on_property_progress)
    else:
        executor = InProcessExecutor(
            time_limit_s, calculator=calculator, reference=reference, on_progress=on_property_progress
        )
    listener = _BenchmarkListener(on_progress)
    engine = Engine(store, executor, max_attempts=max_attempts, retry_failed=retry_failed, listener=listener)
    engine.run(evaluations)
    hashes = [e.config_hash for e in evaluations]
    return BenchmarkRun(model_id, listener.outcomes, listener.skipped_labels, engine.stored_failures_skipped, hashes)


def model_identity(
    calculator_spec: str, material: Material | None, settings: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The hyperparameters that identify a benchmarked potential in the store: its spec, its material and the
    property settings changed for it (``--set``), so one calculator on two materials, or with changed settings, is
    two models whose values never mix in a table. The default material and no settings are left out (the ids of
    stored results stay valid; a run's potential on a material other than the run's is keyed the same way)."""
    from mlipscope.materials import load_material

    identity: dict[str, Any] = {"calculator": calculator_spec}
    if settings:  # one text, as typed (a table column of plain values): "eos.n_points=11, vacancy_64.fmax=0.01"
        assigned = {f"{label}.{k}": v for label, changed in settings.items() for k, v in changed.items()}
        identity["settings"] = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(assigned.items()))
    default = load_material(None)
    if material is not None and material.fingerprint() != default.fingerprint():
        # a file of one's own named like a shipped material is told apart by its crystal
        same_name = material.name == default.name
        identity["material"] = f"{material.name} ({material.fingerprint()})" if same_name else material.name
    return identity


def _spec_of(reference: Reference | None) -> str:
    """A stand-in spec for a reference object (for the stored key): its file, name or 'none'."""
    if reference is None:
        return "none"
    return str(getattr(reference, "path", None) or getattr(reference, "name", type(reference).__name__))


def setting_overrides(
    suite: str, labels: list[str] | None = None, material: str | None = None, settings: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Label -> {setting: value} of the ``--set`` assignments ``settings`` on the properties evaluated
    (:mod:`mlipscope.properties.setting_overrides`); {} for none."""
    if not settings:
        return {}
    from mlipscope.properties.setting_overrides import parse_assignments

    return parse_assignments(settings, suite_entries(suite, labels, material=material), SET_SOURCE)


def suite_properties(
    suite: str,
    labels: list[str] | None = None,
    material: str | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> list[Property]:
    """The properties of ``suite`` (only ``labels``, when given) with the settings of :func:`setting_overrides`."""
    try:
        return build_suite(suite, labels, overrides, material=material)
    except InputError as exc:  # a value the property refuses (e.g. too few EOS points): name the assignment
        given = [f"{label}.{name}" for label, changed in (overrides or {}).items() for name in changed]
        given = [name for name in given if name.endswith(f".{exc.field}")]
        if exc.source is not None or not given:
            raise
        raise InputError(SET_SOURCE, given[-1], exc.expected, got=exc.got) from None
