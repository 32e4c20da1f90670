"""Errors raised for bad user input: they name the file, the field and what was expected."""

from __future__ import annotations

from pathlib import Path


class MlipscopeError(Exception):
    """Base class of every error mlipscope raises on purpose."""


class InputError(MlipscopeError, ValueError):
    """Bad input: a file, config entry or argument that does not hold what was expected.

    The message always names where (file, frame index when relevant), which field, and what was expected.
    """

    def __init__(
        self,
        source: str | Path | None,
        field: str,
        expected: str,
        *,
        frame: int | None = None,
        got: object = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.field = field
        self.expected = expected
        self.frame = frame
        self.got = got
        where = self.source or "<input>"
        if frame is not None:
            where += f", frame {frame}"
        message = f"{where}: field '{field}': expected {expected}"
        if got is not None:
            text = repr(got)
            message += f", got {text[:200]}"
        super().__init__(message)


class EvaluationError(MlipscopeError, RuntimeError):
    """A property evaluation produced non-physical output (explosion, melting, no convergence).

    ``kind`` types the failure where the property knows it (e.g. ``too_few_hops``, ``melted``); ``details`` keeps
    what was computed before it failed (stored with the failed evaluation: MD runs are survival data)."""

    def __init__(self, message: str = "", *, kind: str | None = None, details: dict | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


class TaskTimeout(EvaluationError):
    """The per-task time limit was reached (raised by the runner's guarded calculator inside a property)."""


class FitError(MlipscopeError, RuntimeError):
    """Fitting a model failed (singular system, divergence, crash of the fitting code); the message says why."""
