"""Evaluation tasks at scale: several (model, property) pairs per Dask task, and linear members evaluated together.

With thousands of members a task per (model, property) gives the scheduler 10⁵ tasks of a few milliseconds to a
second each; its per-task overhead then dominates. Two groupings cut that to hundreds:

- :func:`evaluate_models_task`: the pending properties of one model (or of the members of one fit chunk) in one
  task, one after another, each in the worker's sandbox with its own time limit (a crash or hang costs that
  property only; the next starts a fresh sandbox). The properties also share the worker's per-model context
  (relaxed bulk, defect cells, NEB bands).
- :func:`evaluate_linear_batch_task`: a fixed-geometry property (test-set errors, rare-event sets) of many SNAP /
  POD members that share descriptor settings, as matrix products on descriptor rows computed once
  (:mod:`mlipscope.models.linear_batch`); results equal the per-member ones to round-off.

Every task returns a list of :class:`~mlipscope.runner.work.Evaluated`, stored one by one by the client, so a
lost task is recorded as one failed evaluation per evaluation it held (:func:`lost_outcomes`).
"""

from __future__ import annotations

import time

from mlipscope.failures import FailureKind, kind_of_exception
from mlipscope.properties.base import Property
from mlipscope.properties.references import compare
from mlipscope.runner.evaluate import EvaluationOutcome, exception_reason, model_load_failed
from mlipscope.runner.tasks import evaluate_task, reference_for
from mlipscope.runner.work import Evaluated, Evaluation


def evaluate_models_task(
    evaluations: list[Evaluation], time_limit_s: float | None, isolate: bool = True
) -> list[Evaluated]:
    """Evaluate the given evaluations (of one model, or of the members of one fit chunk) in turn (see the module
    docstring)."""
    return [evaluate_task(evaluation, time_limit_s, isolate) for evaluation in evaluations]


def evaluate_linear_batch_task(
    prop: Property, evaluations: list[Evaluation], time_limit_s: float | None, isolate: bool = True
) -> list[Evaluated]:
    """``prop`` for the linear members of ``evaluations`` (model directories) in one batched computation, in the
    worker's sandbox (a crash of LAMMPS while computing rows fails the members of this task only)."""
    from mlipscope.runner.sandbox import run_isolated

    def crashed(kind: FailureKind, reason: str, elapsed_s: float) -> list[Evaluated]:
        wall = elapsed_s / max(1, len(evaluations))
        return [Evaluated.failed(evaluation, kind, reason, wall) for evaluation in evaluations]

    args = (prop, evaluations)
    return run_isolated("mlipscope.runner.task_groups:batch_in_process", args, time_limit_s, crashed, isolate)


def batch_in_process(prop: Property, evaluations: list[Evaluation]) -> list[Evaluated]:
    """The batched evaluation itself (the sandbox child calls this). Wall and calculator time are shared out per
    member."""
    from mlipscope.models.linear_batch import LinearMember, batch_results

    start = time.perf_counter()
    out: list[Evaluated] = []
    loaded, keys = [], {}
    for evaluation in evaluations:
        keys[evaluation.model_id] = evaluation.key
        try:
            loaded.append(LinearMember.from_model_dir(evaluation.model, key=evaluation.model_id))
        except Exception as exc:  # noqa: BLE001 - a member that cannot be read fails alone, as data
            out.append(Evaluated(evaluation.key, model_load_failed(prop.label, exc)))
    try:
        reference_spec = evaluations[0].reference_spec if evaluations else "none"
        reference = reference_for(reference_spec, prop.material.source or prop.material.name)
        batch_start = time.perf_counter()
        results = batch_results(prop, loaded) if loaded else {}
        # the batch is the model's computation (descriptor rows and products): its time is "inside the calculator"
        inside_s = (time.perf_counter() - batch_start) / max(1, len(loaded))
    except Exception as exc:  # noqa: BLE001 - a failure common to the group fails each of its members
        failed = EvaluationOutcome.failed(prop.label, kind_of_exception(exc), exception_reason(exc))
        return out + [Evaluated(keys[m.key], failed) for m in loaded]
    wall = (time.perf_counter() - start) / max(1, len(evaluations))
    reference_values = reference.values_for(prop) if reference is not None else {}
    for member in loaded:
        result = results[member.key]
        if isinstance(result, Exception):
            reason = f"{type(result).__name__}: {result}"
            outcome = EvaluationOutcome.failed(prop.label, kind_of_exception(result), reason, wall)
        else:
            outcome = EvaluationOutcome(
                prop.label,
                "ok",
                records=compare(result, reference_values),
                wall_time_s=wall,
                calculator_time_s=inside_s,
                details={**result.details, "batched": {"members_in_task": len(evaluations)}},
            )
        out.append(Evaluated(keys[member.key], outcome))
    return out


def lost_outcomes(evaluations: list[Evaluation], reason: str) -> list[Evaluated]:
    """One failed evaluation per evaluation of a task whose worker was lost for good."""
    return [Evaluated.failed(evaluation, FailureKind.WORKER_LOST, reason) for evaluation in evaluations]
