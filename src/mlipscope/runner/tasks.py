"""Worker-side task functions (run inside Dask workers; everything they take and return is picklable).

Calculators are not picklable, so tasks receive model directories / calculator specs and build calculators in the
worker, cached per worker process so a model's many property tasks load it once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

from mlipscope.failures import FailureKind
from mlipscope.models.sampling import fit_member
from mlipscope.runner.evaluate import evaluate_property, model_load_failed
from mlipscope.runner.work import Evaluated, Evaluation, Fit, FitOutcome

__all__ = ["Fit", "FitOutcome", "PlannedModel", "evaluate_in_process", "evaluate_task", "fit_planned"]


#: the names of :class:`~mlipscope.runner.work.Fit` from before the unit of work had its own module
PlannedModel = Fit


@functools.lru_cache(maxsize=16)
def load_dataset_cached(name_or_path: str):
    from mlipscope.data.examples import EXAMPLES, load_example
    from mlipscope.data.loader import read_dataset

    return load_example(name_or_path) if name_or_path in EXAMPLES else read_dataset(name_or_path)


@functools.lru_cache(maxsize=8)
def calculator_for(model: str):
    """A calculator for a model directory or a calculator spec, cached per worker (LAMMPS instances are reused)."""
    from mlipscope.calculators import make_calculator

    return make_calculator(model)


@functools.lru_cache(maxsize=32)
def reference_for(spec: str, material: str | None = None):
    from mlipscope.runner.references import load_reference

    return load_reference(spec, material, check_labels=False)  # checked by the command before any work


@functools.lru_cache(maxsize=64)
def context_for(model: str, material: str):
    """The shared per-model results (relaxed bulk) of ``model`` for ``material``, kept per worker process."""
    from mlipscope.materials import load_material
    from mlipscope.properties.context import MaterialContext

    return MaterialContext(load_material(material))


def measure_eval_cost(calculator, material: str | None = None, n_steps: int = 5) -> float:
    """Seconds per atom per energy+force call on the material's bulk, repeated to at least 50 atoms and rattled
    (the 'cost per atom-step')."""
    from mlipscope.materials import load_material

    unit = load_material(material).conventional_cell()
    repeats = 1
    while len(unit) * repeats**3 < 50:
        repeats += 1
    atoms = unit.repeat(repeats)
    atoms.rattle(0.02, seed=1)
    atoms.calc = calculator
    atoms.get_forces()  # warm-up (first call may compile / allocate)
    start = time.perf_counter()
    for i in range(n_steps):
        atoms.positions[0, 0] += 1e-3 * (-1) ** i
        atoms.get_forces()
    return (time.perf_counter() - start) / (n_steps * len(atoms))


def fit_planned(planned: Fit, measured: dict[str, float] | None = None) -> FitOutcome:
    """Fit one ensemble member in a worker and measure its evaluation cost; failures come back as data.
    ``measured``: evaluation costs already measured in this task (see :func:`fit_planned_chunk`)."""
    start = time.perf_counter()
    outcome = _fit_and_measure(planned, measured)
    outcome.task_wall_time_s = time.perf_counter() - start
    return outcome


def fit_planned_chunk(chunk: list[Fit]) -> list[FitOutcome]:
    """Fit several members in one task (a large run's linear members: a fit is a few-millisecond solve, so one
    task each would be mostly scheduler and start-up time). The evaluation cost is measured once per descriptor
    setting: for a linear family it depends on the descriptors, not on the fitted coefficients."""
    measured: dict[str, float] = {}
    return [fit_planned(planned, measured) for planned in chunk]


def _cost_key(planned: Fit, species: list[str]) -> str | None:
    """What a member's evaluation cost depends on: its descriptor group for a linear family, else None
    (measured for each member)."""
    from mlipscope.models.linear_batch import descriptor_group_key, offers_batch_evaluation

    if not offers_batch_evaluation(planned.member.family):
        return None
    return f"{planned.material}|{descriptor_group_key(planned.member.family, planned.member.hyperparameters, species)}"


def _fit_and_measure(planned: Fit, measured: dict[str, float] | None = None) -> FitOutcome:
    """``measured``: costs already measured in this task, by :func:`_cost_key` (updated)."""
    from mlipscope.models.registry import get_family, read_model_meta

    start = time.perf_counter()
    try:
        family = get_family(planned.member.family)
        dataset = load_dataset_cached(planned.member.training_set)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed fit
        return FitOutcome(planned, "failed", reason=f"{type(exc).__name__}: {exc}", fit_wall_time_s=0.0)
    record = fit_member(planned.member, dataset, Path(planned.models_root), family=family)
    if not record.ok:
        return FitOutcome(planned, "failed", reason=record.reason[:500], fit_wall_time_s=record.fit_wall_time_s)
    cost_key = _cost_key(planned, list(dataset.species)) if measured is not None else None
    try:
        if cost_key is not None and cost_key in measured:
            cost = measured[cost_key]
        else:
            cost = measure_eval_cost(family.load_calculator(Path(planned.model_dir)), planned.material)
            if cost_key is not None:
                measured[cost_key] = cost
        meta = read_model_meta(Path(planned.model_dir))
    except Exception as exc:  # noqa: BLE001 - a model that fits but cannot be evaluated is a failed fit
        reason = f"fitted model does not evaluate: {type(exc).__name__}: {exc}"
        return FitOutcome(planned, "failed", reason=reason[:500], fit_wall_time_s=time.perf_counter() - start)
    return FitOutcome(
        planned,
        "ok",
        fit_wall_time_s=record.fit_wall_time_s,
        eval_cost_s_per_atom_step=cost,
        model_file_hash=str(meta.get("model_file_sha256", "")),
        metrics=dict(record.metrics),
    )


def evaluate_task(
    evaluation: Evaluation,
    time_limit_s: float | None,
    isolate: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Evaluated:
    """Evaluate one (model, property) pair in a worker: in the worker's sandbox child (:mod:`.sandbox`), so that
    a crash or a hang inside a calculator call is recorded as a failed evaluation; ``isolate=False`` runs it in
    this process. ``on_progress(unit, done, total)``: the property's progress while it runs."""
    from mlipscope.runner.sandbox import run_isolated

    def crashed(kind: FailureKind, reason: str, elapsed_s: float) -> Evaluated:
        return Evaluated.failed(evaluation, kind, reason, elapsed_s)

    args = (evaluation, time_limit_s)
    function = "mlipscope.runner.tasks:evaluate_in_process"
    return run_isolated(function, args, time_limit_s, crashed, isolate, on_progress=on_progress)


def evaluate_in_process(evaluation: Evaluation, time_limit_s: float | None) -> Evaluated:
    """Evaluate one (model, property) pair in this process (the sandbox child calls this)."""
    prop, material = evaluation.prop, evaluation.material
    try:
        calculator = calculator_for(evaluation.model)
        reference = reference_for(evaluation.reference_spec, material.source or material.name)
    except Exception as exc:  # noqa: BLE001 - a model that cannot even load fails all its properties, as data
        return Evaluated(evaluation.key, model_load_failed(prop.label, exc))
    context = context_for(evaluation.model, material.source or material.name)
    outcome = evaluate_property(prop, calculator, reference, time_limit_s=time_limit_s, context=context)
    return Evaluated(evaluation.key, outcome)
