"""Failure kinds: why an evaluation failed, as a type rather than as text.

A *deterministic* failure (non-physical output, an error in the model or the property code, a model that does not
load, a model that needs more memory than the evaluation may use) says something about the model and stays stored.
A *transient* one (a timeout, a crash of the evaluation process, a lost Dask worker, a missing module) may not
happen again and is retried by the next run, up to the run's ``max_attempts``. The kind is decided where the
failure happens and stored in its own column (``evaluations.failure_kind``); the reason text is for people.

:func:`kind_of_legacy_reason` reads a kind from a reason text. It exists only for databases written before the kind
had its own column (they are migrated with it once) and for fit failures, whose kind is not stored.
"""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    """Why an evaluation failed (stored as its value)."""

    NON_PHYSICAL = "non_physical"  # NaN, exploding energies, melting, no convergence: the model's physics
    ERROR = "error"  # an exception in the model or the property code
    MODEL_LOAD = "model_load"  # the model could not be loaded as a calculator
    TIMEOUT = "timeout"  # the per-task time limit was reached
    CRASHED = "crashed"  # the evaluation process died (signal, exit) or was killed
    WORKER_LOST = "worker_lost"  # the Dask worker (or the result on its way back) was lost
    MISSING_MODULE = "missing_module"  # an import failed: an environment problem, not the model's
    OUT_OF_MEMORY = "out_of_memory"  # the model needed more memory than the evaluation's limit

    @property
    def transient(self) -> bool:
        """Whether a rerun tries this evaluation again (see the module docstring)."""
        return self in _TRANSIENT

    @property
    def group(self) -> str:
        """``transient`` or ``deterministic`` (the run summary counts both)."""
        return "transient" if self.transient else "deterministic"


_TRANSIENT = frozenset({FailureKind.TIMEOUT, FailureKind.CRASHED, FailureKind.WORKER_LOST, FailureKind.MISSING_MODULE})


#: how allocators that do not raise MemoryError say so: torch's CPU allocator (a RuntimeError with errno 12's text),
#: torch.cuda.OutOfMemoryError, C++ std::bad_alloc passed through pybind11 (as MemoryError already)
_OUT_OF_MEMORY_TEXTS = ("Cannot allocate memory", "can't allocate memory", "out of memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says an allocation failed (the evaluation's memory limit or the machine's)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(t in text for t in _OUT_OF_MEMORY_TEXTS)


def out_of_memory_reason(detail: str) -> str:
    """The reason stored for an out-of-memory failure (one prefix, whatever ran out)."""
    return f"out of memory: {detail}"


def kind_of_exception(exc: BaseException) -> FailureKind:
    """The kind of an exception raised while a model was evaluated (not a timeout or non-physical output, which the
    evaluation catches by their own types)."""
    if isinstance(exc, ImportError):
        return FailureKind.MISSING_MODULE
    return FailureKind.OUT_OF_MEMORY if is_out_of_memory(exc) else FailureKind.ERROR


#: reason texts of the kinds, as the runner wrote them before the kind had a column (legacy databases)
_LEGACY_PREFIXES = (
    ("timeout", FailureKind.TIMEOUT),
    ("crashed", FailureKind.CRASHED),
    ("worker lost", FailureKind.WORKER_LOST),
    ("non-physical", FailureKind.NON_PHYSICAL),
    ("out of memory", FailureKind.OUT_OF_MEMORY),
)
_LEGACY_FRAGMENTS = (
    ("ModuleNotFoundError", FailureKind.MISSING_MODULE),
    ("ImportError", FailureKind.MISSING_MODULE),
    ("KilledWorker", FailureKind.WORKER_LOST),
    ("CommClosedError", FailureKind.WORKER_LOST),
)


def stored_or_legacy_kind(stored: str | None, reason: str | None) -> FailureKind:
    """A failed evaluation's kind: the stored one, or (a schema-1 database read as it is) read from its reason."""
    # a missing kind comes back as None from SQL and as NaN from a DataFrame
    return FailureKind(stored) if isinstance(stored, str) and stored else kind_of_legacy_reason(reason)


def kind_of_legacy_reason(reason: str | None) -> FailureKind:
    """The kind a reason text stands for (legacy databases and fit failures only: see the module docstring)."""
    text = (reason or "").removeprefix("model load failed: ")
    for prefix, kind in _LEGACY_PREFIXES:
        if text.startswith(prefix):
            return kind
    for fragment, kind in _LEGACY_FRAGMENTS:
        if fragment in (reason or ""):
            return kind
    return FailureKind.MODEL_LOAD if (reason or "").startswith("model load failed") else FailureKind.ERROR
