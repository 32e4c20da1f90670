"""Benchmark one potential on a property suite and store the results (``mlipscope benchmark``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ase.calculators.calculator import Calculator

from mlipscope.properties.base import Property
from mlipscope.properties.references import Reference
from mlipscope.properties.suite import build_suite
from mlipscope.runner.engine import Engine, Listener
from mlipscope.runner.evaluate import EvaluationOutcome
from mlipscope.runner.executors import InProcessExecutor, SandboxedExecutor
from mlipscope.runner.references import MATERIAL_REFERENCE, load_reference
from mlipscope.runner.work import Evaluated, Evaluation
from mlipscope.store.protocol import ModelRecord, ResultStore

__all__ = ["MATERIAL_REFERENCE", "BenchmarkRun", "benchmark_calculator", "load_reference", "suite_properties"]


@dataclass
class BenchmarkRun:
    model_id: str
    outcomes: list[EvaluationOutcome]
    skipped: list[str]


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
) -> BenchmarkRun:
    """Evaluate ``properties`` for one calculator spec, storing each outcome as it completes (resumable): the
    engine's path with one model's evaluations. ``calculator``: the calculator built from the spec, if the caller
    already has it (else built on first need). ``isolate_with_reference``: a reference spec; evaluations then run
    in a sandbox child (:mod:`.sandbox`), so a crash or hang of the calculator is a stored failure and a hard time
    limit holds. ``on_progress(label, outcome)``: each property as it is stored (None: stored before);
    ``on_property_progress(label, unit, done, total)``: inside the running property (see
    :class:`~mlipscope.runner.executors.InProcessExecutor`)."""
    from mlipscope.store.provenance import model_id_for

    hyperparameters = {"calculator": calculator_spec}
    model_id = model_id_for(family, hyperparameters, None, "")
    store.put_model(ModelRecord(model_id, family, hyperparameters, path=calculator_spec))
    # the stored key holds the content of everything read: a changed dataset or reference is evaluated again
    reference_spec = isolate_with_reference or _spec_of(reference)
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
    return BenchmarkRun(model_id, listener.outcomes, listener.skipped_labels)


def _spec_of(reference: Reference | None) -> str:
    """A stand-in spec for a reference object (for the stored key): its file, name or 'none'."""
    if reference is None:
        return "none"
    return str(getattr(reference, "path", None) or getattr(reference, "name", type(reference).__name__))


def suite_properties(suite: str, labels: list[str] | None = None, material: str | None = None) -> list[Property]:
    return build_suite(suite, labels, material=material)
