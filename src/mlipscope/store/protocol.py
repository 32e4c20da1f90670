"""The store behind one small protocol: what the engine, ``status``, ``export`` and the report need of a results
store. A new backend (a Postgres table, a folder of Parquet files, the in-memory store of the tests) implements
:class:`ResultStore` and nothing else; the DuckDB store implements it with its batching and snapshots on top.

The types here are the stored unit of work: an :class:`EvaluationKey` names one evaluation (a property of a model
against a reference, keyed by the content of its inputs), a :class:`Record` is its outcome (status, a
:class:`~mlipscope.failures.FailureKind` when it failed, the values, details and timings), a :class:`ModelRecord`
one model (a fitted ensemble member or a registered potential), a :class:`StoredState` what a rerun needs to know
of a stored record. Whether a rerun evaluates a key again is one pure function, :func:`needs_evaluation`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord

if TYPE_CHECKING:  # the evaluation child imports this module (its keys) and needs no pandas
    import pandas as pd


class EvaluationKey(NamedTuple):
    """One evaluation's key: the model, the property's label, and the hash of every input it reads."""

    model_id: str
    property_label: str
    config_hash: str


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class Record:
    """The stored outcome of one evaluation: ok with its ``values``, or failed with its ``failure_kind`` and a
    ``reason`` for people. ``details``: curves, spectra, MD runs (JSON-serialisable, or numpy arrays: a store gives
    back arrays of a narrow dtype as arrays or as lists, :mod:`mlipscope.store.details_arrays`)."""

    key: EvaluationKey
    status: Status
    values: tuple[ErrorRecord, ...] = ()
    failure_kind: FailureKind | None = None
    reason: str = ""
    wall_time_s: float = math.nan
    details: dict[str, Any] = field(default_factory=dict)
    software_versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status is Status.FAILED and not isinstance(self.failure_kind, FailureKind):
            raise TypeError(f"a failed record needs a FailureKind, got {self.failure_kind!r}")
        if self.status is Status.OK and self.failure_kind is not None:
            raise TypeError("an ok record has no failure kind")


@dataclass(frozen=True)
class ModelRecord:
    """One model row. ``model_id``: :func:`mlipscope.store.provenance.model_id_for` of family, hyperparameters,
    seed and training-set hash (fitted members), or of the calculator spec (registered potentials)."""

    model_id: str
    family: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    training_set_hash: str = ""
    training_set_name: str = ""
    fit_wall_time_s: float = math.nan
    eval_cost_s_per_atom_step: float = math.nan
    path: str = ""
    model_file_hash: str = ""
    status: Status = Status.OK
    reason: str = ""
    software_versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredState:
    """What a rerun needs to know of a stored evaluation: its status, failure kind and how often it was tried."""

    status: Status
    failure_kind: FailureKind | None
    attempts: int


def needs_evaluation(state: StoredState | None, *, max_attempts: int = 2, retry_failed: bool = False) -> bool:
    """Whether a run evaluates a key again: not stored; or failed with a transient kind (timeout, crash, missing
    module, lost worker) in fewer than ``max_attempts`` attempts; or failed at all with ``retry_failed``.
    Deterministic failures (non-physical output, errors) stay as stored."""
    if state is None:
        return True
    if state.status is Status.OK:
        return False
    kind = state.failure_kind or FailureKind.ERROR
    return retry_failed or (kind.transient and state.attempts < max_attempts)


#: the columns of :meth:`ResultStore.records` (one row per value of an ok evaluation, one row with null values
#: per failed evaluation)
RECORD_COLUMNS = (
    "model_id", "property_label", "config_hash", "status", "failure_kind", "reason", "wall_time_s", "attempts",
    "created", "name", "value", "reference", "unit", "absolute_error", "relative_error", "reference_source",
)  # fmt: skip

#: the columns of a run plan (:meth:`ResultStore.plan`); ``config_hash`` is null for a model still to fit
PLAN_COLUMNS = ("model_id", "property_label", "config_hash")


@runtime_checkable
class ResultStore(Protocol):
    """A results store. Writes are durable when the method returns, or when the store is closed (a backend may
    buffer); a store killed at any point keeps what it made durable and a rerun skips it."""

    path: Path  # where it lives, for messages

    def put_model(self, model: ModelRecord) -> None:
        """Insert or replace a model (a replaced one keeps its creation time)."""

    def models(self) -> pd.DataFrame:
        """All models, one row each: the :class:`ModelRecord` fields (JSON fields as dicts) and ``created``."""

    def put_records(self, records: Iterable[Record]) -> int:
        """Store evaluation outcomes, each replacing one stored under its key (its attempts counted); returns how
        many. The model of every record is put first."""

    def stored_states(self, keys: Iterable[EvaluationKey] | None = None) -> dict[EvaluationKey, StoredState]:
        """The state of each stored key among ``keys`` (None: every stored key)."""

    def records(self) -> pd.DataFrame:
        """Every stored evaluation in long form, columns :data:`RECORD_COLUMNS`, oldest first."""

    def details(self, model_ids: Sequence[str]) -> dict[EvaluationKey, dict[str, Any]]:
        """The ``details`` of every stored evaluation of ``model_ids``."""

    def put_plan(self, keys: Iterable[tuple[str, str, str | None]], *, append: bool = False) -> int:
        """Record the (model_id, property_label, config_hash or None) evaluations a run plans (replacing the
        previous plan unless ``append``); returns how many."""

    def plan(self) -> pd.DataFrame:
        """The recorded plan, columns :data:`PLAN_COLUMNS` (empty: none recorded)."""

    def get_meta(self, key: str) -> str | None:
        """A run-level setting or result (plan name and time, schema version, the dynamics selection)."""

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None:
        """Make everything durable and release the store."""
