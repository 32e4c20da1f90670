"""Evaluate one property with one calculator against one reference: never raises, always returns an outcome.

Every :class:`~mlipscope.runner.work.Evaluation` the engine runs ends here (in a Dask worker, a sandbox child or
this process): a property that raises, times out or produces non-physical output becomes a failed outcome carrying
its kind and reason, so the run goes on. The key functions below define every stored evaluation key.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, TaskTimeout
from mlipscope.failures import FailureKind, kind_of_exception, out_of_memory_reason
from mlipscope.properties.base import ErrorRecord, Property
from mlipscope.properties.references import Reference, compare
from mlipscope.runner.guarded import GuardedCalculator

if TYPE_CHECKING:  # the context imports ase's constraints and optimisers: the child needs them, the CLI does not
    from mlipscope.properties.context import MaterialContext


@dataclass
class EvaluationOutcome:
    property_label: str
    status: str  # "ok" | "failed"
    records: list[ErrorRecord] = field(default_factory=list)
    reason: str = ""
    wall_time_s: float = math.nan
    calculator_time_s: float = math.nan
    details: dict[str, Any] = field(default_factory=dict)
    failure_kind: FailureKind | None = None  # set when failed: decides whether a rerun tries it again

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def failed(
        cls, property_label: str, kind: FailureKind, reason: str, wall_time_s: float = math.nan, **fields: Any
    ) -> EvaluationOutcome:
        """A failed outcome of ``kind`` (the reason is cut to 500 characters)."""
        return cls(property_label, "failed", reason=reason[:500], wall_time_s=wall_time_s, failure_kind=kind, **fields)


def property_config_hash(prop: Property) -> str:
    """Stable hash of a property's class and configuration."""
    payload = {"class": f"{type(prop).__module__}.{type(prop).__qualname__}", "config": prop.config()}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """Content hash of a file, cached per (path, mtime, size) in this process."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _FILE_HASHES[key]


def reference_content(reference_spec: str | None, prop: Property) -> str:
    """What the reference of ``prop`` is made of: the content hash of its file, or the spec itself."""
    from mlipscope.materials import reference_dir

    spec = reference_spec or "none"
    if spec == "material":
        return file_sha256(prop.material.reference) if prop.material.reference else "none"
    if spec.endswith("-dft") and (reference_dir() / (spec.replace("-", "_") + ".yaml")).is_file():
        return file_sha256(reference_dir() / (spec.replace("-", "_") + ".yaml"))
    return file_sha256(spec) if Path(spec).is_file() else spec


def evaluation_base_key(prop: Property, reference_spec: str | None) -> str:
    """Hash of everything an evaluation reads except the model: the property's class and settings, the content of
    every file it reads (datasets, reference curves, the material file) and of the reference table."""
    inputs = {str(p): file_sha256(p) for p in prop.input_paths() if Path(p).is_file()}
    payload = {
        "property": property_config_hash(prop),
        "inputs": inputs,
        "reference": reference_content(reference_spec, prop),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def evaluation_key(base_key: str, model_key: str) -> str:
    """The stored key of one (model, property) evaluation: the property's inputs and the model's content, so that
    a changed dataset, reference table or model file at the same path is evaluated again."""
    return hashlib.sha256(f"{base_key}:{model_key}".encode()).hexdigest()[:16]


def model_content_key(spec: str, model_file_hash: str = "") -> str:
    """A model's content: its model file hash (fitted models), else its spec plus the hash of a file it names, or
    plus the revision of a built-in potential whose meaning changed (``tersoff`` is T3 now, not T2)."""
    from mlipscope.calculators import builtin_revision

    if model_file_hash:
        return model_file_hash
    path = Path(spec)
    if path.is_file():
        return f"{spec}:{file_sha256(path)}"
    revision = builtin_revision(spec)
    return f"{spec}@{revision}" if revision else spec


#: what most properties compute with (cells, relaxations, symmetry constraints), imported before a property's timer
#: starts: the modules that define properties import them where they run (listing a suite imports every one), so
#: without this the first evaluation of a process would also time these imports. The sandbox child imports them
#: while it waits for its first request (:func:`import_evaluation_modules`).
EVALUATION_MODULES = ("ase.build", "ase.optimize", "ase.constraints", "ase.filters", "mlipscope.properties.context")


def import_evaluation_modules() -> None:
    """Import :data:`EVALUATION_MODULES` (at once when they are loaded already)."""
    import importlib

    for module in EVALUATION_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # a broken installation: the property that needs the module reports it
            continue


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
    import_evaluation_modules()
    deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
    guarded = GuardedCalculator(calculator, deadline=deadline)
    start = time.perf_counter()
    try:
        result = prop.compute(guarded, context) if _takes_context(prop) else prop.compute(guarded)
        reference_values = reference.values_for(prop) if reference is not None else {}
        records = compare(result, reference_values)
    except TaskTimeout:
        reason = f"timeout: exceeded the per-task limit of {time_limit_s:g} s"
        return _failed(prop, FailureKind.TIMEOUT, reason, start, guarded)
    except EvaluationError as exc:
        # a typed failure keeps what the property computed before it failed (MD runs: survival data)
        details = {**(exc.details or {}), **({"failure_kind": exc.kind} if exc.kind else {})}
        return _failed(prop, FailureKind.NON_PHYSICAL, f"non-physical: {exc}", start, guarded, details)
    except Exception as exc:  # noqa: BLE001 - any model/property crash is data, not a crash of the run
        kind, reason = kind_of_exception(exc), exception_reason(exc)
        if kind is FailureKind.OUT_OF_MEMORY:  # said first: the fix is a larger limit or a smaller cell
            reason = out_of_memory_reason(reason)
        return _failed(prop, kind, reason, start, guarded)
    return EvaluationOutcome(
        property_label=prop.label,
        status="ok",
        records=records,
        wall_time_s=time.perf_counter() - start,
        calculator_time_s=guarded.seconds_inside,
        details=result.details,
    )


def model_load_failed(property_label: str, exc: BaseException) -> EvaluationOutcome:
    """The outcome of a property whose model could not be loaded (a missing module is transient: retried)."""
    kind = FailureKind.MISSING_MODULE if isinstance(exc, ImportError) else FailureKind.MODEL_LOAD
    return EvaluationOutcome.failed(property_label, kind, f"model load failed: {type(exc).__name__}: {exc}")


def _takes_context(prop: Property) -> bool:
    """Whether ``prop.compute`` accepts the material context (properties written before it take the calculator
    only, and still run)."""
    try:
        return len(inspect.signature(prop.compute).parameters) >= 2
    except (TypeError, ValueError):
        return True


def exception_reason(exc: BaseException) -> str:
    """``Type: message (at file:line)``, the line being where the exception was raised."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(exc).__name__}: {exc}{at}"[:500]


def _failed(
    prop: Property,
    kind: FailureKind,
    reason: str,
    start: float,
    guarded: GuardedCalculator,
    details: dict[str, Any] | None = None,
) -> EvaluationOutcome:
    return EvaluationOutcome.failed(
        prop.label,
        kind,
        reason,
        time.perf_counter() - start,
        calculator_time_s=guarded.seconds_inside,
        details=details or {},
    )
