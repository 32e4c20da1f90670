"""Evaluate one property with one calculator against one reference: never raises, always returns an outcome.

This is the unit of work of the runner (a Dask task) and of ``mlipscope benchmark``: a property that raises, times
out or produces non-physical output becomes a failed outcome carrying its reason, so the run goes on.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError
from mlipscope.properties.base import ErrorRecord, Property
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.references import Reference, compare
from mlipscope.runner.guarded import GuardedCalculator, TaskTimeout


@dataclass
class EvaluationOutcome:
    property_label: str
    status: str  # "ok" | "failed"
    records: list[ErrorRecord] = field(default_factory=list)
    reason: str = ""
    wall_time_s: float = math.nan
    calculator_time_s: float = math.nan
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def property_config_hash(prop: Property) -> str:
    """Stable hash of a property's class and configuration: a stored evaluation with the same hash is reused."""
    payload = {"class": f"{type(prop).__module__}.{type(prop).__qualname__}", "config": prop.config()}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def evaluate_property(
    prop: Property,
    calculator: Calculator,
    reference: Reference | None,
    *,
    time_limit_s: float | None = None,
    context: MaterialContext | None = None,
) -> EvaluationOutcome:
    """Run ``prop`` with ``calculator`` (guarded by a deadline and sanity checks) and compare with ``reference``.
    ``context``: the model's shared results for the property's material (its relaxed bulk), reused across calls."""
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    guarded = GuardedCalculator(calculator, deadline=deadline)
    start = time.perf_counter()
    try:
        result = prop.compute(guarded, context) if _takes_context(prop) else prop.compute(guarded)
        reference_values = reference.values_for(prop) if reference is not None else {}
        records = compare(result, reference_values)
    except TaskTimeout:
        return _failed(prop, f"timeout: exceeded the per-task limit of {time_limit_s:g} s", start, guarded)
    except EvaluationError as exc:
        return _failed(prop, f"non-physical: {exc}", start, guarded)
    except Exception as exc:  # noqa: BLE001 - any model/property crash is data, not a crash of the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        reason = f"{type(exc).__name__}: {exc} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
        return _failed(prop, reason, start, guarded)
    return EvaluationOutcome(
        property_label=prop.label,
        status="ok",
        records=records,
        wall_time_s=time.perf_counter() - start,
        calculator_time_s=guarded.seconds_inside,
        details=result.details,
    )


def _takes_context(prop: Property) -> bool:
    """Whether ``prop.compute`` accepts the material context (properties written before it take the calculator
    only, and still run)."""
    try:
        return len(inspect.signature(prop.compute).parameters) >= 2
    except (TypeError, ValueError):
        return True


def _failed(prop: Property, reason: str, start: float, guarded: GuardedCalculator) -> EvaluationOutcome:
    return EvaluationOutcome(
        property_label=prop.label,
        status="failed",
        reason=reason[:500],
        wall_time_s=time.perf_counter() - start,
        calculator_time_s=guarded.seconds_inside,
    )
