"""Worker-side task functions (run inside Dask workers; everything they take and return is picklable).

Calculators are not picklable, so tasks receive model directories / calculator specs and build calculators in the
worker, cached per worker process so a model's many property tasks load it once.
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlipscope.properties.base import Property
from mlipscope.runner.evaluate import EvaluationOutcome, evaluate_property


@dataclass(frozen=True)
class MemberSpec:
    """One ensemble member to fit."""

    model_id: str
    family: str
    hyperparameters: dict[str, Any]
    seed: int
    training_set: str  # shipped example name or absolute path
    training_set_hash: str
    model_dir: str


@dataclass
class FitOutcome:
    member: MemberSpec
    status: str
    reason: str = ""
    fit_wall_time_s: float = math.nan
    eval_cost_s_per_atom_step: float = math.nan
    model_file_hash: str = ""
    metrics: dict[str, float] = field(default_factory=dict)


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


@functools.lru_cache(maxsize=8)
def reference_for(spec: str):
    from mlipscope.runner.benchmark import load_reference

    return load_reference(spec)


def measure_eval_cost(calculator, n_steps: int = 5) -> float:
    """Seconds per atom per energy+force call on a 64-atom diamond Si cell (the 'cost per atom-step')."""
    from ase.build import bulk

    atoms = bulk("Si", "diamond", 5.43, cubic=True).repeat(2)
    atoms.rattle(0.02, seed=1)
    atoms.calc = calculator
    atoms.get_forces()  # warm-up (first call may compile / allocate)
    start = time.perf_counter()
    for i in range(n_steps):
        atoms.positions[0, 0] += 1e-3 * (-1) ** i
        atoms.get_forces()
    return (time.perf_counter() - start) / (n_steps * len(atoms))


def fit_member(member: MemberSpec) -> FitOutcome:
    """Fit one ensemble member; failures come back as data."""
    from mlipscope.models.registry import get_family

    start = time.perf_counter()
    try:
        family = get_family(member.family)
        dataset = load_dataset_cached(member.training_set)
        fitted = family.fit(dataset, dict(member.hyperparameters), member.seed, Path(member.model_dir))
        cost = measure_eval_cost(family.load_calculator(Path(member.model_dir)))
        from mlipscope.models.registry import read_model_meta

        meta = read_model_meta(Path(member.model_dir))
        return FitOutcome(
            member,
            "ok",
            fit_wall_time_s=fitted.fit_wall_time_s,
            eval_cost_s_per_atom_step=cost,
            model_file_hash=str(meta.get("model_file_hash", "")),
            metrics=dict(fitted.metrics),
        )
    except Exception as exc:  # noqa: BLE001 - a failed fit is recorded, the ensemble goes on
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{type(exc).__name__}: {exc} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return FitOutcome(member, "failed", reason=reason[:500], fit_wall_time_s=time.perf_counter() - start)


def evaluate_task(
    model_id: str,
    model: str,
    prop: Property,
    config_hash: str,
    reference_spec: str,
    time_limit_s: float | None,
) -> tuple[str, str, EvaluationOutcome]:
    """Evaluate one (model, property) pair in a worker."""
    try:
        calculator = calculator_for(model)
        reference = reference_for(reference_spec)
    except Exception as exc:  # noqa: BLE001 - a model that cannot even load fails all its properties, as data
        outcome = EvaluationOutcome(
            prop.label, "failed", reason=f"model load failed: {type(exc).__name__}: {exc}"
        )
        return model_id, config_hash, outcome
    return model_id, config_hash, evaluate_property(prop, calculator, reference, time_limit_s=time_limit_s)
