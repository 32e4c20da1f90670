"""Failure classes: a deterministic failure (non-physical output, a NEB that does not converge) says something
about the model and stays stored; a transient one (a timeout, a crash, a missing module, a lost worker) may not
happen again and is retried on the next run, up to the run's ``max_attempts``."""

from __future__ import annotations

#: reason prefixes and fragments of transient failures (see runner.sandbox and runner.evaluate for the reasons)
TRANSIENT_PREFIXES = ("timeout", "crashed", "worker lost")
TRANSIENT_FRAGMENTS = ("ModuleNotFoundError", "ImportError", "KilledWorker", "CommClosedError")


def is_transient(reason: str) -> bool:
    """Whether a stored failure reason is of a transient kind (see the module docstring)."""
    text = reason.removeprefix("model load failed: ")
    return text.startswith(TRANSIENT_PREFIXES) or any(f in reason for f in TRANSIENT_FRAGMENTS)


def failure_kind(reason: str) -> str:
    return "transient" if is_transient(reason) else "deterministic"
