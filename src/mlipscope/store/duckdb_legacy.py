"""The DuckDB store's methods from before the :class:`~mlipscope.store.protocol.ResultStore` protocol, kept for
their callers as thin wrappers over the protocol's methods (new code calls those: ``put_model``, ``put_records``,
``stored_states`` with :func:`~mlipscope.store.protocol.needs_evaluation`, ``put_plan`` with ``set_meta``,
``details``). A mixin of :class:`~mlipscope.store.duckdb_store.ResultsStore`."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord
from mlipscope.store import protocol
from mlipscope.store.details_arrays import SharedArrays, join_arrays
from mlipscope.store.duckdb_buffer import pending_details
from mlipscope.store.protocol import EvaluationKey, ModelRecord, Record, Status
from mlipscope.store.provenance import model_id_for
from mlipscope.store.status import RunStatus, compute_status

if TYPE_CHECKING:
    import pandas as pd

    from mlipscope.store.protocol import StoredState

STATUSES = ("ok", "failed")
PLAN_META_KEYS = ("plan_name", "plan_recorded_at", "plan_max_attempts", "plan_retry_failed")


def plan_meta(name: str, max_attempts: int, retry_failed: bool) -> dict[str, str]:
    """The run-plan meta entries (``mlipscope status`` reads them) of a plan recorded now."""
    return {
        "plan_name": str(name),
        "plan_recorded_at": dt.datetime.now(dt.UTC).isoformat(),
        "plan_max_attempts": str(int(max_attempts)),
        "plan_retry_failed": str(bool(retry_failed)).lower(),
    }


@dataclass(frozen=True)
class EvaluationResult:
    """One evaluation to store with :meth:`LegacyAPI.add_evaluations`: ``status`` ok (with ``records``) or
    failed (with ``failure_kind`` and ``reason``). New code stores :class:`~mlipscope.store.protocol.Record`."""

    model_id: str
    property_label: str
    config_hash: str
    records: Sequence[ErrorRecord] = ()
    status: str = "ok"
    reason: str = ""
    wall_time_s: float = math.nan
    details: dict[str, Any] | None = None
    software_versions: dict[str, str] | None = None
    failure_kind: FailureKind | None = None

    def as_record(self, path: Path) -> Record:
        if self.status not in STATUSES:
            raise InputError(path, "status", "'ok' or 'failed'", got=self.status)
        ok = self.status == "ok"
        if not ok and not isinstance(self.failure_kind, FailureKind):
            raise TypeError(f"kind must be a mlipscope.failures.FailureKind, got {self.failure_kind!r}")
        return Record(
            EvaluationKey(self.model_id, self.property_label, self.config_hash),
            Status(self.status),
            values=tuple(self.records) if ok else (),
            failure_kind=None if ok else self.failure_kind,
            reason="" if ok else str(self.reason),
            wall_time_s=self.wall_time_s,
            details=self.details or {},
            software_versions=self.software_versions or {},
        )


class LegacyAPI:
    """The pre-protocol methods; set up by the store's ``__init__``."""

    path: Path
    read_note: str
    snapshot_age_s: float | None
    _con: duckdb.DuckDBPyConnection | None
    _dirty: bool
    _pending: dict[tuple[str, str, str], Any]

    if TYPE_CHECKING:  # the store's, its buffer's and its reads' (declared here for type checkers only)

        def put_model(self, model: ModelRecord) -> None: ...

        def put_records(self, records: Iterable[Record]) -> int: ...

        def stored_states(self, keys: Iterable[EvaluationKey] | None = None) -> dict[EvaluationKey, StoredState]: ...

        def details(self, model_ids: Sequence[str]) -> dict[EvaluationKey, dict[str, Any]]: ...

        def models(self) -> pd.DataFrame: ...

        def _record_plan(self, tasks: Iterable[Any], meta: dict[str, str], append: bool) -> int: ...

        def _require_model(self, model_id: str) -> None: ...

        def _flush(self, *, publish: bool = True) -> None: ...

        def _arrays_sql(self) -> str: ...

        def _shared_arrays(self) -> SharedArrays: ...

    # -- models and datasets ---------------------------------------------------------------------------------
    def register_model(
        self,
        family: str,
        hyperparameters: dict[str, Any],
        *,
        seed: int | None = None,
        training_set_hash: str = "",
        training_set_name: str = "",
        fit_wall_time_s: float = math.nan,
        path: str | Path = "",
        model_file_hash: str = "",
        status: str = "ok",
        reason: str = "",
        eval_cost_s_per_atom_step: float = math.nan,
        software_versions: dict[str, str] | None = None,
        model_id: str | None = None,
    ) -> str:
        """Insert or replace a model row (its ``created`` time is kept) and return its id
        (:meth:`put_model` of a :class:`~mlipscope.store.protocol.ModelRecord`)."""
        if status not in STATUSES:
            raise InputError(None, "status", "'ok' or 'failed'", got=status)
        model_id = model_id or model_id_for(family, hyperparameters, seed, training_set_hash)
        self.put_model(
            ModelRecord(
                model_id,
                family,
                hyperparameters,
                seed=seed,
                training_set_hash=training_set_hash,
                training_set_name=training_set_name,
                fit_wall_time_s=fit_wall_time_s,
                eval_cost_s_per_atom_step=eval_cost_s_per_atom_step,
                path=str(path),
                model_file_hash=model_file_hash,
                status=Status(status),
                reason=reason,
                software_versions=software_versions or {},
            )
        )
        return model_id

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        """The model row as a dict (JSON fields decoded), or None when the id is unknown."""
        from mlipscope.store.duckdb_reads import JSON_FIELDS

        cursor = self._con.execute("SELECT * FROM models WHERE model_id = ?", [model_id])
        rows = cursor.fetchall()  # fetchall: an unfinished fetchone result blocks the next register() of DuckDB
        row = rows[0] if rows else None
        if row is None:
            return None
        out = dict(zip([d[0] for d in cursor.description], row, strict=True))
        return {k: json.loads(v) if k in JSON_FIELDS and v is not None else v for k, v in out.items()}

    def add_dataset(self, dataset: Dataset) -> str:
        """Record a dataset (once per content hash) and return its hash."""
        digest = dataset.content_hash
        self._con.execute(
            "INSERT INTO datasets (hash, name, path, n_frames, n_atoms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [digest, dataset.name, str(dataset.path or ""), len(dataset), dataset.n_atoms],
        )
        self._dirty = True
        return digest

    # -- evaluations -----------------------------------------------------------------------------------------
    def add_evaluation(
        self,
        model_id: str,
        property_label: str,
        config_hash: str,
        records: Sequence[ErrorRecord],
        *,
        wall_time_s: float,
        details: dict[str, Any] | None = None,
        software_versions: dict[str, str] | None = None,
    ) -> None:
        """Store an ok evaluation and its values, replacing one stored with the same key."""
        result = EvaluationResult(
            model_id, property_label, config_hash, records, "ok", "", wall_time_s, details, software_versions
        )
        self.put_records([result.as_record(self.path)])

    def add_failed_evaluation(
        self,
        model_id: str,
        property_label: str,
        config_hash: str,
        reason: str,
        *,
        kind: FailureKind | None,
        wall_time_s: float = math.nan,
        software_versions: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Store a failed evaluation with its kind and reason (replacing any stored one for the same key). ``kind``
        decides whether a rerun tries it again. ``details``: what the property computed before it failed (e.g. the
        MD runs of a diffusion property, with the property's own failure kind)."""
        result = EvaluationResult(
            model_id, property_label, config_hash, (), "failed", reason, wall_time_s, details, software_versions, kind
        )
        self.put_records([result.as_record(self.path)])

    def add_evaluations(self, results: Iterable[EvaluationResult]) -> int:
        """Store many evaluations in one transaction; returns how many."""
        return self.put_records(r.as_record(self.path) for r in results)

    def needs_evaluation(
        self, model_id: str, property_label: str, config_hash: str, *, max_attempts: int = 2, retry_failed: bool = False
    ) -> bool:
        """:func:`mlipscope.store.protocol.needs_evaluation` of this key's stored state."""
        key = EvaluationKey(model_id, property_label, config_hash)
        state = self.stored_states([key]).get(key)
        return protocol.needs_evaluation(state, max_attempts=max_attempts, retry_failed=retry_failed)

    def has_evaluation(
        self, model_id: str, property_label: str, config_hash: str, *, retry_failed: bool = False
    ) -> bool:
        """True when this evaluation is stored (ok or failed; with ``retry_failed`` only ok counts)."""
        key = EvaluationKey(model_id, property_label, config_hash)
        state = self.stored_states([key]).get(key)
        return state is not None and (not retry_failed or state.status is Status.OK)

    def done_evaluations(self, *, retry_failed: bool = False) -> set[tuple[str, str, str]]:
        """Every stored (model_id, property_label, config_hash); ``retry_failed`` leaves failed ones out."""
        states = self.stored_states()
        return {tuple(k) for k, s in states.items() if not retry_failed or s.status is Status.OK}

    def details_of_models(self, model_ids: list[str]) -> dict[tuple[str, str, str], dict[str, Any]]:
        """:meth:`details`: every evaluation's details of ``model_ids``, by key."""
        return dict(self.details(model_ids))

    def evaluation_details(self, model_id: str, property_label: str, config_hash: str) -> dict[str, Any] | None:
        """The ``details`` (curves, spectra) stored with an evaluation, or None when it is not stored."""
        pending = self._pending.get((model_id, property_label, config_hash))
        if pending is not None:
            return pending_details(pending.evaluation, self._shared_arrays())
        row = self._con.execute(
            f"SELECT details, {self._arrays_sql()} FROM evaluations "
            "WHERE model_id = ? AND property_label = ? AND config_hash = ?",
            [model_id, property_label, config_hash],
        ).fetchall()
        return join_arrays(json.loads(row[0][0] or "{}"), row[0][1], self._shared_arrays().payloads()) if row else None

    # -- run plan and status ---------------------------------------------------------------------------------
    def record_run_plan(
        self,
        tasks: Iterable[tuple[str, str, str | None]],
        *,
        name: str = "",
        max_attempts: int = 2,
        retry_failed: bool = False,
        append: bool = False,
    ) -> int:
        """``put_plan`` and the plan's meta entries (name, time, ``max_attempts``, ``retry_failed``: they say which
        stored failures the run runs again) in one transaction, so readers can count done / failed / remaining
        (:meth:`run_status`). Returns the number of tasks."""
        return self._record_plan(tasks, plan_meta(name, max_attempts, retry_failed), append)

    def run_status(self) -> RunStatus:
        """Done / failed / remaining evaluations of the recorded run plan, fits, and failure reasons grouped
        (:func:`mlipscope.store.status.compute_status`); without a plan, what is stored."""
        self._flush()
        return compute_status(self, source=self.path, note=self.read_note, snapshot_age_s=self.snapshot_age_s)
