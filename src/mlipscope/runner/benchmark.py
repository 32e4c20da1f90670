"""Benchmark one potential on a property suite and store the results (``mlipscope benchmark``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mlipscope.calculators import make_calculator
from mlipscope.properties.base import Property
from mlipscope.properties.references import Reference
from mlipscope.properties.suite import build_suite
from mlipscope.runner.evaluate import (
    EvaluationOutcome,
    evaluate_property,
    evaluation_base_key,
    evaluation_key,
    model_content_key,
)
from mlipscope.runner.references import MATERIAL_REFERENCE, load_reference

__all__ = ["MATERIAL_REFERENCE", "BenchmarkRun", "benchmark_calculator", "load_reference", "suite_properties"]


@dataclass
class BenchmarkRun:
    model_id: str
    outcomes: list[EvaluationOutcome]
    skipped: list[str]


def benchmark_calculator(
    calculator_spec: str,
    properties: list[Property],
    reference: Reference | None,
    store,
    *,
    family: str = "external",
    calculator=None,
    time_limit_s: float | None = None,
    on_progress: Callable[[str, EvaluationOutcome | None], None] | None = None,
    isolate_with_reference: str | None = None,
    retry_failed: bool = False,
    max_attempts: int = 2,
) -> BenchmarkRun:
    """Evaluate ``properties`` for one calculator spec, storing each outcome as it completes (resumable).
    ``calculator``: the calculator built from the spec, if the caller already has it (else built on first need).
    ``isolate_with_reference``: a reference spec; evaluations then run in a sandbox child (:mod:`.sandbox`), so a
    crash or hang of the calculator is a stored failure and a hard time limit holds."""
    from mlipscope.store.duckdb_store import model_id_for, software_versions

    model_id = model_id_for(family, {"calculator": calculator_spec}, None, "")
    store.register_model(family, {"calculator": calculator_spec}, path=calculator_spec, model_id=model_id)
    from mlipscope.properties.context import MaterialContext

    outcomes, skipped = [], []
    versions = software_versions()
    contexts: dict[str, MaterialContext] = {}  # one per material: the relaxed bulk is shared by its properties
    model_key = model_content_key(calculator_spec)
    for prop in properties:
        # the stored key holds the content of everything read: a changed dataset or reference is evaluated again
        config_hash = evaluation_key(
            evaluation_base_key(prop, isolate_with_reference or _spec_of(reference)), model_key
        )
        if not store.needs_evaluation(
            model_id, prop.label, config_hash, max_attempts=max_attempts, retry_failed=retry_failed
        ):
            skipped.append(prop.label)
            if on_progress:
                on_progress(prop.label, None)
            continue
        start = time.perf_counter()
        if isolate_with_reference is not None:
            from mlipscope.runner.tasks import evaluate_task

            *_, outcome = evaluate_task(
                model_id, calculator_spec, prop, config_hash, isolate_with_reference, time_limit_s
            )
        else:
            if calculator is None:
                calculator = make_calculator(calculator_spec)
            context = contexts.setdefault(prop.material.fingerprint(), MaterialContext(prop.material))
            outcome = evaluate_property(prop, calculator, reference, time_limit_s=time_limit_s, context=context)
        if outcome.ok:
            store.add_evaluation(
                model_id,
                prop.label,
                config_hash,
                outcome.records,
                wall_time_s=outcome.wall_time_s,
                details=outcome.details,
                software_versions=versions,
            )
        else:
            store.add_failed_evaluation(
                model_id,
                prop.label,
                config_hash,
                outcome.reason,
                kind=outcome.failure_kind,
                wall_time_s=time.perf_counter() - start,
            )
        outcomes.append(outcome)
        if on_progress:
            on_progress(prop.label, outcome)
    return BenchmarkRun(model_id, outcomes, skipped)


def _spec_of(reference: Reference | None) -> str:
    """A stand-in spec for a reference object (for the stored key): its file, name or 'none'."""
    if reference is None:
        return "none"
    return str(getattr(reference, "path", None) or getattr(reference, "name", type(reference).__name__))


def suite_properties(suite: str, labels: list[str] | None = None, material: str | None = None) -> list[Property]:
    return build_suite(suite, labels, material=material)
