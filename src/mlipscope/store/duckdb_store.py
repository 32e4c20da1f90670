"""Results of a benchmark run in one DuckDB file: datasets, models, evaluations and their property values.

One process writes (the runner's client); every write method commits before it returns, so a run killed
at any point keeps everything stored so far and a restart skips it (:meth:`ResultsStore.needs_evaluation`:
stored results and deterministic failures are skipped, transient failures retried). Inside
:meth:`ResultsStore.batch` evaluations are buffered and committed together (one transaction, Arrow inserts:
DuckDB spends about a millisecond per statement, so per-row INSERTs cap a writer at ~70 evaluations/s).
A failed fit or evaluation is a stored result too, with its reason.

Readers in other processes: DuckDB lets one process open a file for writing and nobody else open it at all, so a
writer that calls :meth:`ResultsStore.publish_snapshot` (throttled; the runner does, after stored results and at
the end) keeps a checkpointed copy ``<db>.snapshot.duckdb`` next to the database, replaced atomically.
:meth:`ResultsStore.open_for_reading` opens the database read-only, or that snapshot while a writer holds the
lock, and says which and how old (``mlipscope status``, ``analyze --db`` and ``export`` read this way).

Tables:

- ``datasets``: one row per training/test set, keyed by its content hash.
- ``models``: one row per model (fitted ensemble member or external potential), keyed by :func:`model_id_for`.
- ``evaluations``: one row per (model, property label, property config hash), status ``ok`` or ``failed``.
- ``property_values``: the :class:`~mlipscope.properties.base.ErrorRecord` rows of each ok evaluation.
- ``run_plan``: the (model, property label[, config hash]) tasks of the latest run
  (:meth:`ResultsStore.record_run_plan`), so readers can count what remains (:meth:`ResultsStore.run_status`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError
from mlipscope.failures import FailureKind, stored_or_legacy_kind
from mlipscope.properties.base import ErrorRecord
from mlipscope.store.database_file import (
    KEY_COLUMNS,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    DatabaseLockedError,
    check_is_results_database,
    copy_without_closing_our_lock,
    migrate_failure_kinds,
    raise_if_locked,
    readable_database,
    snapshot_path_for,
)
from mlipscope.store.provenance import model_id_for, software_versions, to_json
from mlipscope.store.status import failure_kind_column

if TYPE_CHECKING:
    from mlipscope.store.status import RunStatus

__all__ = [
    "SCHEMA_VERSION",
    "DatabaseLockedError",
    "check_is_results_database",
    "EvaluationResult",
    "ResultsStore",
    "model_id_for",
    "readable_database",
    "snapshot_path_for",
    "software_versions",
]

STATUSES = ("ok", "failed")
METRICS = ("absolute_error", "relative_error", "value")

#: a snapshot is published at most this often (and never more often than 20x its own cost: at most ~5% of the
#: writer's time goes into snapshots however large the database grows)
SNAPSHOT_INTERVAL_S = 5.0
_SNAPSHOT_COST_FACTOR = 20.0
_EVALUATION_COLUMNS = (
    "model_id", "property_label", "config_hash", "status", "reason", "wall_time_s", "software_versions", "details",
    "failure_kind",
)  # fmt: skip
_VALUE_COLUMNS = (
    "model_id", "property_label", "config_hash", "name", "value", "reference", "unit", "absolute_error",
    "relative_error", "reference_source",
)  # fmt: skip
_FLOAT_VALUES = frozenset({"value", "reference", "absolute_error", "relative_error"})

_MODEL_FIELDS = (
    "family", "hyperparameters", "seed", "training_set_hash", "training_set_name", "fit_wall_time_s",
    "eval_cost_s_per_atom_step", "path", "model_file_hash", "status", "reason", "software_versions"
)  # fmt: skip
_JSON_FIELDS = ("hyperparameters", "software_versions", "details")


@dataclass(frozen=True)
class EvaluationResult:
    """One evaluation to store with :meth:`ResultsStore.add_evaluations`: ``status`` ok (with ``records``) or
    failed (with ``failure_kind`` and ``reason``)."""

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


@dataclass
class _Pending:
    """A buffered evaluation: its row, its value rows, and how often it was stored in this batch (attempts)."""

    evaluation: list[Any]
    values: list[list[Any]]
    created: dt.datetime
    n_stored: int = 1


class ResultsStore:
    """The results database. Use as a context manager or call :meth:`close`.

    ``snapshot_interval_s``: the least time between two snapshots :meth:`publish_snapshot` writes.
    A store from :meth:`open_for_reading` tells in ``read_note`` which file it read (empty: the database itself)
    and in ``snapshot_age_s`` how old that snapshot is (None: the database itself).
    """

    def __init__(
        self, path: str | Path, *, read_only: bool = False, snapshot_interval_s: float = SNAPSHOT_INTERVAL_S
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.read_note = ""
        self.snapshot_age_s: float | None = None  # set by open_for_reading when it opened a snapshot
        self.snapshot_interval_s = float(snapshot_interval_s)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._known_models: set[str] = set()  # ids seen registered: checked once, not per stored result
        self._pending: dict[tuple[str, str, str], _Pending] = {}
        self._batch_depth = 0
        self._batch_max_rows = 0
        self._batch_max_delay_s = math.inf
        self._oldest_pending_s = 0.0  # time.monotonic() when the buffer last went from empty to non-empty
        self._publishing = False  # set by the first publish_snapshot: close() then publishes a final one
        self._dirty = False  # written since the last snapshot
        self._last_publish_s = -math.inf  # time.monotonic() of the last snapshot
        self._publish_cost_s = 0.0
        if read_only and not self.path.is_file():
            raise InputError(self.path, "path", "an existing mlipscope results database")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file() and self.path.stat().st_size > 0:
            check_is_results_database(self.path)  # before any write: a foreign or damaged file stays as it is
        try:
            try:
                self._con = duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:  # a writer that started after the check above
                raise_if_locked(self.path, exc)
                raise
            if not read_only:
                self._con.execute(SCHEMA_SQL)
                self._con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [SCHEMA_VERSION]
                )
                migrate_failure_kinds(self._con)
        except duckdb.Error as exc:
            raise InputError(
                self.path, "file contents", f"a DuckDB results database that can be opened ({exc})"
            ) from exc

    @classmethod
    def open_for_reading(cls, path: str | Path) -> ResultsStore:
        """Open ``path`` read-only, or, while another process writes it, the latest snapshot that writer published
        (:func:`readable_database`); ``read_note`` then says so and how old the snapshot is."""
        source, note = readable_database(path)
        store = cls(source, read_only=True)
        store.read_note = note
        if note:
            store.snapshot_age_s = max(time.time() - source.stat().st_mtime, 0.0)
        return store

    # -- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Write buffered results, publish a final snapshot when this store publishes them, and close."""
        if self._con is None:
            return
        try:
            self._flush(publish=False)
            if self._publishing and self._dirty:
                self.publish_snapshot(force=True)
        finally:
            self._con.close()
            self._con = None

    # -- batches and snapshots -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self, *, max_rows: int = 2000, max_delay_s: float = 5.0) -> Iterator[ResultsStore]:
        """Buffer :meth:`add_evaluation` / :meth:`add_failed_evaluation` and commit them together in one
        transaction at exit (also on an exception: they are finished results), or sooner once ``max_rows``
        evaluations are buffered or a store comes ``max_delay_s`` after the oldest buffered one; :meth:`flush`
        and :meth:`publish_snapshot` write them at once. Reads see buffered results (lookups of one key consult the
        buffer; whole-table reads write it first). A process killed inside a batch loses its buffered results
        (a rerun computes them again). Batches nest; the outermost one's limits count."""
        if max_rows < 1 or not max_delay_s >= 0:
            raise InputError(self.path, "batch", "max_rows >= 1 and max_delay_s >= 0", got=(max_rows, max_delay_s))
        if self._batch_depth == 0:
            self._batch_max_rows, self._batch_max_delay_s = int(max_rows), float(max_delay_s)
        self._batch_depth += 1
        try:
            yield self
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._con is not None:
                self._flush()

    def flush(self) -> None:
        """Write the buffered results of a :meth:`batch` now (one transaction)."""
        self._flush()

    def add_evaluations(self, results: Iterable[EvaluationResult]) -> int:
        """Store many evaluations in one transaction (see :meth:`batch`); returns how many."""
        n = 0
        with self.batch(max_rows=1 << 30, max_delay_s=math.inf):
            for r in results:
                if r.status == "ok":
                    self.add_evaluation(
                        r.model_id,
                        r.property_label,
                        r.config_hash,
                        r.records,
                        wall_time_s=r.wall_time_s,
                        details=r.details,
                        software_versions=r.software_versions,
                    )
                elif r.status == "failed":
                    self.add_failed_evaluation(
                        r.model_id,
                        r.property_label,
                        r.config_hash,
                        r.reason,
                        kind=r.failure_kind,
                        wall_time_s=r.wall_time_s,
                        software_versions=r.software_versions,
                        details=r.details,
                    )
                else:
                    raise InputError(self.path, "status", "'ok' or 'failed'", got=r.status)
                n += 1
        return n

    def publish_snapshot(self, *, force: bool = False) -> Path | None:
        """Make what this writer stored readable by other processes: write buffered results, then (when anything
        changed, at most every ``snapshot_interval_s``, unless ``force``) checkpoint and copy the database to
        :func:`snapshot_path_for` (a temporary file renamed over the old snapshot: readers see the old or the new
        one, whole). Returns the snapshot path, or None when throttled. Cheap to call often: the runner calls it
        while it waits for results and at the end; once called, :meth:`close` publishes a final snapshot."""
        if self.read_only:
            raise InputError(self.path, "publish_snapshot", "a store opened for writing")
        self._publishing = True
        self._flush(publish=False)
        interval_s = max(self.snapshot_interval_s, _SNAPSHOT_COST_FACTOR * self._publish_cost_s)
        if not force and (not self._dirty or time.monotonic() - self._last_publish_s < interval_s):
            return None
        start = time.perf_counter()
        # after a checkpoint the main file holds every committed row (the WAL is empty) and nothing writes it until
        # our next statement: a byte copy is a consistent database
        self._con.execute("CHECKPOINT")
        snapshot = snapshot_path_for(self.path)
        partial = snapshot.with_name(f"{snapshot.name}.tmp-{os.getpid()}")
        if self._publish_cost_s == 0.0:  # the first publish: partial copies of a killed writer go (we hold the lock)
            for stale in snapshot.parent.glob(f"{glob.escape(snapshot.name)}.tmp-*"):
                stale.unlink(missing_ok=True)
        try:
            copy_without_closing_our_lock(self.path, partial)
            os.replace(partial, snapshot)
        except OSError as exc:
            raise InputError(snapshot, "snapshot", f"a writable file beside the database ({exc})") from None
        finally:
            partial.unlink(missing_ok=True)
        self._dirty = False
        self._last_publish_s = time.monotonic()
        self._publish_cost_s = time.perf_counter() - start
        return snapshot

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
        """Record the (model_id, property_label, config_hash or None) evaluations a run plans, replacing the
        previous plan (``append``: adding to it, as a run's dynamics stage does), so readers can count done /
        failed / remaining (:meth:`run_status`). A config hash not known yet (a model still to fit) is None: any
        evaluation of that model and label counts. ``max_attempts`` and ``retry_failed`` are the run's: they say
        which stored failures it runs again. Returns the number of tasks."""
        rows = [tuple(t) for t in tasks]
        bad = next((t for t in rows if len(t) != 3 or not all(isinstance(x, str) for x in t[:2])), None)
        if bad is not None:
            raise InputError(self.path, "run plan", "(model_id, property_label, config_hash or None) tasks", got=bad)
        plan = pa.table(
            {
                "model_id": pa.array([t[0] for t in rows], pa.string()),
                "property_label": pa.array([t[1] for t in rows], pa.string()),
                "config_hash": pa.array([None if t[2] is None else str(t[2]) for t in rows], pa.string()),
            }
        )
        meta = {
            "plan_name": str(name),
            "plan_recorded_at": dt.datetime.now(dt.UTC).isoformat(),
            "plan_max_attempts": str(int(max_attempts)),
            "plan_retry_failed": str(bool(retry_failed)).lower(),
        }
        with self._transaction() as con:
            if not append:
                con.execute("DELETE FROM run_plan")
            con.register("_mlipscope_plan", plan)
            try:
                con.execute("INSERT INTO run_plan BY NAME SELECT * FROM _mlipscope_plan")
            finally:
                con.unregister("_mlipscope_plan")
            con.executemany(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [list(kv) for kv in meta.items()],
            )
        self._dirty = True
        return len(rows)

    def run_status(self) -> RunStatus:
        """Done / failed / remaining evaluations of the recorded run plan, fits, and failure reasons grouped
        (:class:`mlipscope.store.status.RunStatus`); without a plan, what is stored."""
        from mlipscope.store.status import compute_status

        self._flush()
        return compute_status(self._con, source=self.path, note=self.read_note, snapshot_age_s=self.snapshot_age_s)

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- datasets --------------------------------------------------------------------------------------------
    def add_dataset(self, dataset: Dataset) -> str:
        """Record a dataset (once per content hash) and return its hash."""
        digest = dataset.content_hash
        self._con.execute(
            "INSERT INTO datasets (hash, name, path, n_frames, n_atoms) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [digest, dataset.name, str(dataset.path or ""), len(dataset), dataset.n_atoms],
        )
        self._dirty = True
        return digest

    def datasets(self) -> pd.DataFrame:
        return self._con.execute("SELECT * FROM datasets ORDER BY created").df()

    # -- models ----------------------------------------------------------------------------------------------
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
        """Insert or replace a model row (its ``created`` time is kept) and return its id."""
        model_id = model_id or model_id_for(family, hyperparameters, seed, training_set_hash)
        row = {
            "family": family,
            "hyperparameters": hyperparameters,
            "seed": seed,
            "training_set_hash": training_set_hash,
            "training_set_name": training_set_name,
            "fit_wall_time_s": fit_wall_time_s,
            "eval_cost_s_per_atom_step": eval_cost_s_per_atom_step,
            "path": path,
            "model_file_hash": model_file_hash,
            "status": status,
            "reason": reason,
            "software_versions": software_versions or {},
        }
        values = [model_id, *(_db_value(k, row[k]) for k in _MODEL_FIELDS)]
        try:  # a new model, the usual case: in DuckDB a plain insert costs a third of an ON CONFLICT upsert
            self._con.execute(
                f"INSERT INTO models (model_id, {', '.join(_MODEL_FIELDS)}) VALUES ({', '.join('?' * len(values))})",
                values,
            )
        except duckdb.ConstraintException:  # registered before: replace its fields, keep its ``created``
            assignments = ", ".join(f"{k} = ?" for k in _MODEL_FIELDS)
            self._con.execute(f"UPDATE models SET {assignments} WHERE model_id = ?", [*values[1:], model_id])
        self._known_models.add(model_id)
        self._dirty = True
        return model_id

    def update_model(self, model_id: str, **fields: Any) -> None:
        """Change some fields of a registered model (e.g. ``status="failed", reason=...`` after a crash)."""
        unknown = sorted(set(fields) - set(_MODEL_FIELDS))
        if unknown:
            raise InputError(None, ", ".join(unknown), f"model fields among {list(_MODEL_FIELDS)}")
        self._require_model(model_id)
        if not fields:
            return
        assignments = ", ".join(f"{k} = ?" for k in fields)
        values = [_db_value(k, v) for k, v in fields.items()]
        self._con.execute(f"UPDATE models SET {assignments} WHERE model_id = ?", [*values, model_id])
        self._dirty = True

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        """The model row as a dict (JSON fields decoded), or None when the id is unknown."""
        cursor = self._con.execute("SELECT * FROM models WHERE model_id = ?", [model_id])
        row = cursor.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cursor.description], row, strict=True))
        return {k: json.loads(v) if k in _JSON_FIELDS and v is not None else v for k, v in out.items()}

    def models(self) -> pd.DataFrame:
        """All models, one row each (JSON fields decoded to dicts)."""
        return _decode(self._con.execute("SELECT * FROM models ORDER BY created, model_id").df())

    # -- evaluations -----------------------------------------------------------------------------------------
    def has_evaluation(
        self, model_id: str, property_label: str, config_hash: str, *, retry_failed: bool = False
    ) -> bool:
        """True when this evaluation is stored (ok or failed; with ``retry_failed`` only ok counts)."""
        statuses = ["ok"] if retry_failed else list(STATUSES)
        pending = self._pending.get((model_id, property_label, config_hash))
        if pending is not None:
            return pending.evaluation[3] in statuses
        row = self._con.execute(
            "SELECT count(*) FROM evaluations WHERE model_id = ? AND property_label = ? AND config_hash = ? "
            "AND list_contains(?, status)",
            [model_id, property_label, config_hash, statuses],
        ).fetchone()
        return bool(row and row[0])

    def needs_evaluation(
        self, model_id: str, property_label: str, config_hash: str, *, max_attempts: int = 2, retry_failed: bool = False
    ) -> bool:
        """Whether to (re)run this evaluation: not stored; or failed with a transient :class:`FailureKind` (timeout,
        crash, missing module, lost worker) in fewer than ``max_attempts`` attempts; or failed at all with
        ``retry_failed``. Deterministic failures (non-physical output) stay."""
        key = (model_id, property_label, config_hash)
        pending = self._pending.get(key)
        if pending is not None:  # the attempts this flush will store: buffered ones plus the stored ones, if any
            stored = self._stored_attempts([key])
            row = (pending.evaluation[3], pending.evaluation[8], pending.n_stored + stored.get(key, 0))
        else:
            row = self._con.execute(
                "SELECT status, failure_kind, attempts FROM evaluations WHERE model_id = ? AND property_label = ? "
                "AND config_hash = ?",
                list(key),
            ).fetchone()
        if row is None:
            return True
        status, kind, attempts = row
        if status == "ok":
            return False
        return retry_failed or (FailureKind(kind).transient and int(attempts or 1) < max_attempts)

    def done_evaluations(self, *, retry_failed: bool = False) -> set[tuple[str, str, str]]:
        """Every stored (model_id, property_label, config_hash); ``retry_failed`` leaves failed ones out."""
        self._flush()
        where = "WHERE status = 'ok'" if retry_failed else ""
        rows = self._con.execute(f"SELECT model_id, property_label, config_hash FROM evaluations {where}")
        return {tuple(r) for r in rows.fetchall()}

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
        """Store an ok evaluation and its values, replacing one stored with the same key (one transaction)."""
        rows = [
            [model_id, property_label, config_hash, r.name, _float(r.value), _float(r.reference), r.unit]
            + [_float(r.absolute_error), _float(r.relative_error), r.reference_source]
            for r in records
        ]
        self._write_evaluation(
            [model_id, property_label, config_hash, "ok", "", _float(wall_time_s)]
            + [to_json(software_versions or {}), to_json(details or {}), None],
            rows,
        )

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
        if not isinstance(kind, FailureKind):
            raise TypeError(f"kind must be a mlipscope.failures.FailureKind, got {kind!r}")
        self._write_evaluation(
            [model_id, property_label, config_hash, "failed", str(reason), _float(wall_time_s)]
            + [to_json(software_versions or {}), to_json(details or {}), kind.value],
            [],
        )

    def set_meta(self, key: str, value: str) -> None:
        """Store a run-level setting or result under ``key`` in the ``meta`` table (e.g. the dynamics selection)."""
        self.flush()
        self._con.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]
        )

    def get_meta(self, key: str) -> str | None:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else row[0]

    def _write_evaluation(self, evaluation: list[Any], values: list[list[Any]]) -> None:
        """Buffer one evaluation; outside a batch (or once the batch is full or due) write the buffer."""
        self._require_model(evaluation[0])
        key = (evaluation[0], evaluation[1], evaluation[2])
        now = dt.datetime.now(dt.UTC)  # the row's ``created``: when it was stored, even if written a moment later
        pending = self._pending.get(key)
        if not self._pending:
            self._oldest_pending_s = time.monotonic()
        if pending is None:
            self._pending[key] = _Pending(evaluation, values, now)
        else:  # stored twice in one batch (a retry): the last one counts, with both attempts
            self._pending[key] = _Pending(evaluation, values, now, pending.n_stored + 1)
        due = time.monotonic() - self._oldest_pending_s >= self._batch_max_delay_s
        if not self._batch_depth or len(self._pending) >= self._batch_max_rows or due:
            self._flush()

    def _stored_attempts(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        """Attempts of the stored evaluations among ``keys`` (absent keys are left out)."""
        if len(keys) == 1:  # a primary-key lookup: no scan of the table
            row = self._con.execute(
                "SELECT attempts FROM evaluations WHERE model_id = ? AND property_label = ? AND config_hash = ?",
                list(keys[0]),
            ).fetchall()  # fetchall: a half-fetched result blocks the register() that may follow
            return {keys[0]: int(row[0][0] or 1)} if row else {}
        table = pa.table({k: pa.array([key[i] for key in keys], pa.string()) for i, k in enumerate(KEY_COLUMNS)})
        self._con.register("_mlipscope_keys", table)
        try:
            rows = self._con.execute(
                "SELECT e.model_id, e.property_label, e.config_hash, e.attempts FROM evaluations e "
                "SEMI JOIN _mlipscope_keys USING (model_id, property_label, config_hash)"
            ).fetchall()
        finally:
            self._con.unregister("_mlipscope_keys")
        return {(m, p, c): int(a or 1) for m, p, c, a in rows}

    def _flush(self, *, publish: bool = True) -> None:
        """Write every buffered evaluation in one transaction: replaced ones deleted first, then the new rows (two
        Arrow inserts for many). On an error nothing of the buffer is written and the buffer is dropped."""
        if not self._pending or self._con is None:
            return
        pending, self._pending = self._pending, {}
        if len(pending) == 1:
            self._write_one(*pending.items())
        else:
            self._write_many(pending)
        self._dirty = True
        if publish and self._publishing:  # a publishing writer keeps its snapshot fresh in a long stream of results
            self.publish_snapshot()

    def _write_one(self, item: tuple[tuple[str, str, str], _Pending]) -> None:
        """One evaluation with parameterised statements: for a single row cheaper than registering Arrow tables."""
        key, p = item
        where = "model_id = ? AND property_label = ? AND config_hash = ?"
        with self._transaction() as con:
            found = con.execute(f"SELECT attempts FROM evaluations WHERE {where}", list(key)).fetchall()
            if found:  # an evaluation run again (a retried failure) counts its attempts; its old values go
                con.execute(f"DELETE FROM property_values WHERE {where}", list(key))
                con.execute(f"DELETE FROM evaluations WHERE {where}", list(key))
            attempts = (int(found[0][0] or 1) if found else 0) + p.n_stored
            con.execute(
                f"INSERT INTO evaluations ({', '.join(_EVALUATION_COLUMNS)}, created, attempts) "
                f"VALUES ({', '.join('?' * (len(_EVALUATION_COLUMNS) + 2))})",
                [*p.evaluation, p.created, attempts],
            )
            if p.values:  # one multi-row statement: much cheaper than executemany for a few rows
                rows = ", ".join([f"({', '.join('?' * len(_VALUE_COLUMNS))})"] * len(p.values))
                con.execute(
                    f"INSERT INTO property_values ({', '.join(_VALUE_COLUMNS)}) VALUES {rows}",
                    [x for row in p.values for x in row],
                )

    def _write_many(self, pending: dict[tuple[str, str, str], _Pending]) -> None:
        keys = list(pending)
        with self._transaction() as con:
            stored = self._stored_attempts(keys)
            if stored:  # re-runs: the delete scans property_values, so only when something is replaced
                replaced = pa.table(
                    {k: pa.array([key[i] for key in stored], pa.string()) for i, k in enumerate(KEY_COLUMNS)}
                )
                con.register("_mlipscope_replaced", replaced)
                try:
                    for table in ("property_values", "evaluations"):
                        con.execute(
                            f"DELETE FROM {table} t USING _mlipscope_replaced r WHERE t.model_id = r.model_id "
                            "AND t.property_label = r.property_label AND t.config_hash = r.config_hash"
                        )
                finally:
                    con.unregister("_mlipscope_replaced")
            items = list(pending.values())
            columns = list(zip(*(p.evaluation for p in items), strict=True))
            evaluations = pa.table(
                {
                    **{
                        name: pa.array(col, pa.float64() if name == "wall_time_s" else pa.string())
                        for name, col in zip(_EVALUATION_COLUMNS, columns, strict=True)
                    },
                    "created": pa.array([p.created for p in items], pa.timestamp("us", tz="UTC")),
                    "attempts": pa.array([stored.get(k, 0) + p.n_stored for k, p in pending.items()], pa.int32()),
                }
            )
            values = [row for p in items for row in p.values]
            con.register("_mlipscope_evaluations", evaluations)
            try:
                con.execute("INSERT INTO evaluations BY NAME SELECT * FROM _mlipscope_evaluations")
            finally:
                con.unregister("_mlipscope_evaluations")
            if values:
                value_columns = zip(_VALUE_COLUMNS, zip(*values, strict=True), strict=True)
                table = pa.table(
                    {
                        name: pa.array(col, pa.float64() if name in _FLOAT_VALUES else pa.string())
                        for name, col in value_columns
                    }
                )
                con.register("_mlipscope_values", table)
                try:
                    con.execute("INSERT INTO property_values BY NAME SELECT * FROM _mlipscope_values")
                finally:
                    con.unregister("_mlipscope_values")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def evaluation_details(self, model_id: str, property_label: str, config_hash: str) -> dict[str, Any] | None:
        """The ``details`` (curves, spectra) stored with an evaluation, or None when it is not stored."""
        pending = self._pending.get((model_id, property_label, config_hash))
        if pending is not None:
            return json.loads(pending.evaluation[7] or "{}")
        row = self._con.execute(
            "SELECT details FROM evaluations WHERE model_id = ? AND property_label = ? AND config_hash = ?",
            [model_id, property_label, config_hash],
        ).fetchone()
        return None if row is None else json.loads(row[0] or "{}")

    def details_of_models(self, model_ids: list[str]) -> dict[tuple[str, str, str], dict[str, Any]]:
        """The stored details of every evaluation of ``model_ids``, by (model_id, property_label, config_hash),
        in one query (a lookup of one evaluation scans the table, so this is the way to read many)."""
        self._flush()
        if not model_ids:
            return {}
        rows = self._con.execute(
            "SELECT model_id, property_label, config_hash, details FROM evaluations WHERE list_contains(?, model_id)",
            [list(model_ids)],
        ).fetchall()
        return {(m, p, h): json.loads(d or "{}") for m, p, h, d in rows}

    def evaluations(self) -> pd.DataFrame:
        """Long form: a row per value of each ok evaluation and one per failed evaluation (values null)."""
        self._flush()
        return self._con.execute(
            """SELECT e.model_id, m.family, m.training_set_name, e.property_label, e.config_hash, e.status,
                      e.reason, e.wall_time_s, v.name, v.value, v.reference, v.unit, v.absolute_error,
                      v.relative_error, v.reference_source, e.created
               FROM evaluations e
               LEFT JOIN models m USING (model_id)
               LEFT JOIN property_values v USING (model_id, property_label, config_hash)
               ORDER BY e.created, e.model_id, e.property_label, v.rowid"""
        ).df()

    def failures(self) -> pd.DataFrame:
        """Failed evaluations with their kinds and reasons (failed fits are in :meth:`models`, status ``failed``)."""
        self._flush()
        kind = failure_kind_column(self._con, "e")
        table = self._con.execute(
            f"""SELECT e.model_id, m.family, e.property_label, e.config_hash, {kind} AS failure_kind, e.reason,
                      e.wall_time_s, e.attempts, e.created FROM evaluations e LEFT JOIN models m USING (model_id)
               WHERE e.status = 'failed' ORDER BY e.created, e.model_id"""
        ).df()
        table["failure_kind"] = [stored_or_legacy_kind(k, r).value for k, r in table[["failure_kind", "reason"]].values]
        return table

    # -- the wide table --------------------------------------------------------------------------------------
    def error_table(
        self,
        metric: str = "absolute_error",
        include_failed_models: bool = False,
        *,
        include_hyperparameters: bool = False,
    ) -> pd.DataFrame:
        """Models x value names (index ``model_id``), leading columns ``family`` and ``training_set_name``.

        Rows: ok models with at least one stored evaluation (plus, with ``include_failed_models``, models
        whose fit failed, all NaN). Per (model, property label) the latest evaluation counts; NaN marks a
        failed or missing value. ``include_hyperparameters`` adds ``seed`` and ``hp.<name>`` columns after
        the two leading ones (what the analysis uses to explain clusters).
        """
        if metric not in METRICS:
            raise InputError(None, "metric", f"one of {list(METRICS)}", got=metric)
        self._flush()
        models = self._con.execute(
            """SELECT model_id, family, training_set_name, seed, hyperparameters, status FROM models
               WHERE (status = 'ok' AND model_id IN (SELECT model_id FROM evaluations))
                  OR (status = 'failed' AND ?)
               ORDER BY model_id""",
            [bool(include_failed_models)],
        ).df()
        values = self._con.execute(
            f"""WITH latest AS (
                    SELECT model_id, property_label, config_hash FROM evaluations
                    QUALIFY row_number() OVER (
                        PARTITION BY model_id, property_label ORDER BY created DESC) = 1)
                SELECT v.model_id, v.name, v.{metric} AS x
                FROM property_values v JOIN latest USING (model_id, property_label, config_hash)"""
        ).df()
        values = values[values["model_id"].isin(models["model_id"])].drop_duplicates(["model_id", "name"])
        wide = values.pivot(index="model_id", columns="name", values="x").astype(float)
        wide = wide.reindex(index=models["model_id"], columns=sorted(wide.columns))
        wide.columns.name = None
        meta = models.set_index("model_id")[["family", "training_set_name"]]
        if include_hyperparameters:
            meta = meta.assign(seed=models.set_index("model_id")["seed"])
            hps = pd.DataFrame([json.loads(h or "{}") for h in models["hyperparameters"]], index=models["model_id"])
            meta = meta.join(hps[sorted(hps.columns)].add_prefix("hp."))
        table = meta.join(wide)
        table.index.name = "model_id"
        return table

    def export_error_table(self, path: str | Path, metric: str = "absolute_error", **kwargs: Any) -> Path:
        """Write :meth:`error_table` to ``.csv`` or ``.parquet`` (by suffix); returns the path."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet", ".pq"):
            raise InputError(path, "suffix", "'.csv' or '.parquet'", got=path.suffix)
        table = self.error_table(metric, **kwargs)
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            table.to_csv(path)
        else:
            table.to_parquet(path)
        return path

    # -- helpers ---------------------------------------------------------------------------------------------
    def _require_model(self, model_id: str) -> None:
        if model_id in self._known_models:  # models are never deleted: once seen, always there
            return
        row = self._con.execute("SELECT count(*) FROM models WHERE model_id = ?", [model_id]).fetchone()
        if not row or not row[0]:
            raise InputError(self.path, "model_id", "a registered model (call register_model first)", got=model_id)
        self._known_models.add(model_id)


def _db_value(field: str, value: Any) -> Any:
    """A model field as stored: JSON text, a checked status, strings for paths, None for a missing seed."""
    if field in _JSON_FIELDS:
        return to_json(value or {})
    if field == "status":
        if value not in STATUSES:
            raise InputError(None, "status", "'ok' or 'failed'", got=value)
        return value
    if field == "seed":
        return None if value is None else int(value)
    if field in ("fit_wall_time_s", "eval_cost_s_per_atom_step"):
        return _float(value)
    return "" if value is None else str(value)


def _float(x: Any) -> float:
    return math.nan if x is None else float(x)


def _decode(df: pd.DataFrame) -> pd.DataFrame:
    for col in _JSON_FIELDS:
        if col in df.columns:
            df[col] = [json.loads(v) if isinstance(v, str) else v for v in df[col]]
    return df
