"""Results of a benchmark run in one DuckDB file: datasets, models, evaluations and their property values; the
DuckDB implementation of :class:`~mlipscope.store.protocol.ResultStore`.

One process writes (the runner's client); every write method commits before it returns, so a run killed
at any point keeps everything stored so far and a restart skips it (:meth:`ResultsStore.stored_states` with
:func:`~mlipscope.store.protocol.needs_evaluation`: stored results and deterministic failures are skipped,
transient failures retried). Inside :meth:`ResultsStore.batch` evaluations are buffered and committed together
(:mod:`mlipscope.store.duckdb_buffer`). A failed fit or evaluation is a stored result too, with its reason.

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
  (:meth:`ResultsStore.put_plan`), so readers can count what remains (:meth:`ResultsStore.run_status`).

The methods are split by concern: writes of evaluations and key lookups in :mod:`~mlipscope.store.duckdb_buffer`,
reads in :mod:`~mlipscope.store.duckdb_reads`, the pre-protocol methods in :mod:`~mlipscope.store.duckdb_legacy`.
"""

from __future__ import annotations

import glob
import logging
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from mlipscope.errors import InputError
from mlipscope.store.database_file import (
    SCHEMA_SQL,
    SCHEMA_VERSION,
    DatabaseLockedError,
    check_is_results_database,
    compacted_copy,
    copy_without_closing_our_lock,
    migrate_schema,
    raise_if_locked,
    readable_database,
    replace_with_compacted,
    snapshot_path_for,
)
from mlipscope.store.details_arrays import SharedArrays
from mlipscope.store.duckdb_buffer import BufferedWrites, _Pending, as_float
from mlipscope.store.duckdb_legacy import STATUSES, EvaluationResult, LegacyAPI
from mlipscope.store.duckdb_reads import JSON_FIELDS, METRICS, DuckDBReads
from mlipscope.store.protocol import ModelRecord
from mlipscope.store.provenance import model_id_for, software_versions, to_json

__all__ = [
    "METRICS",
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

log = logging.getLogger(__name__)

#: a snapshot is published at most this often (and never more often than 20x its own cost: at most ~5% of the
#: writer's time goes into snapshots however large the database grows)
SNAPSHOT_INTERVAL_S = 5.0
_SNAPSHOT_COST_FACTOR = 20.0
_MODEL_FIELDS = (
    "family", "hyperparameters", "seed", "training_set_hash", "training_set_name", "fit_wall_time_s",
    "eval_cost_s_per_atom_step", "path", "model_file_hash", "status", "reason", "software_versions"
)  # fmt: skip


class ResultsStore(BufferedWrites, LegacyAPI, DuckDBReads):
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
        self._evaluation_columns: set[str] | None = None  # asked once: a file of an older schema lacks some
        self._known_models: set[str] = set()  # ids seen registered: checked once, not per stored result
        self._shared: SharedArrays | None = None  # the shared arrays of the details, read once when first needed
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
                migrate_schema(self._con)
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
        """Write buffered results, publish a final snapshot when this store publishes them, and close; a writer
        whose file is mostly free blocks leaves it compacted (:func:`compacted_copy`)."""
        if self._con is None:
            return
        compacted = None
        try:
            self._flush(publish=False)
            if self._publishing and self._dirty:
                self.publish_snapshot(force=True)
            if not self.read_only:
                compacted = self._compacted_copy()
        finally:
            self._con.close()
            self._con = None
        if compacted is not None:
            replace_with_compacted(self.path, compacted)

    def _compacted_copy(self) -> Path | None:
        """:func:`compacted_copy` of a fragmented file; a failure only leaves the file as large as it was."""
        try:
            return compacted_copy(self._con, self.path)
        except (duckdb.Error, OSError) as exc:
            log.warning("%s: not compacted (%s)", self.path, exc)
            return None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    # -- models ----------------------------------------------------------------------------------------------
    def put_model(self, model: ModelRecord) -> None:
        """Insert or replace a model row (its ``created`` time is kept)."""
        values = [model.model_id, *(_db_value(k, getattr(model, k)) for k in _MODEL_FIELDS)]
        try:  # a new model, the usual case: in DuckDB a plain insert costs a third of an ON CONFLICT upsert
            self._con.execute(
                f"INSERT INTO models (model_id, {', '.join(_MODEL_FIELDS)}) VALUES ({', '.join('?' * len(values))})",
                values,
            )
        except duckdb.ConstraintException:  # registered before: replace its fields, keep its ``created``
            assignments = ", ".join(f"{k} = ?" for k in _MODEL_FIELDS)
            self._con.execute(f"UPDATE models SET {assignments} WHERE model_id = ?", [*values[1:], model.model_id])
        self._known_models.add(model.model_id)
        self._dirty = True

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

    def _require_model(self, model_id: str) -> None:
        if model_id in self._known_models:  # models are never deleted: once seen, always there
            return
        # fetchall, not fetchone: a result left unfinished makes DuckDB refuse the next register() of a batch
        (count,) = self._con.execute("SELECT count(*) FROM models WHERE model_id = ?", [model_id]).fetchall()[0]
        if not count:
            raise InputError(self.path, "model_id", "a registered model (call put_model first)", got=model_id)
        self._known_models.add(model_id)

    # -- run plan and meta -----------------------------------------------------------------------------------
    def put_plan(self, keys: Iterable[tuple[str, str, str | None]], *, append: bool = False) -> int:
        """Record the (model_id, property_label, config_hash or None) evaluations a run plans, replacing the
        previous plan (``append``: adding to it, as a run's dynamics stage does), so readers can count done /
        failed / remaining (:meth:`run_status`, with the ``plan_*`` meta entries the engine sets). A config hash
        not known yet (a model still to fit) is None: any evaluation of that model and label counts. Returns the
        number of tasks."""
        return self._record_plan(keys, {}, append)

    def _record_plan(self, tasks: Iterable[tuple[str, str, str | None]], meta: dict[str, str], append: bool) -> int:
        """The plan and ``meta`` entries in one transaction."""
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
        with self._transaction() as con:
            if not append:
                con.execute("DELETE FROM run_plan")
            self._insert_arrow(con, "run_plan", plan)
            if meta:
                con.executemany(
                    "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [list(kv) for kv in meta.items()],
                )
        self._dirty = True
        return len(rows)

    def set_meta(self, key: str, value: str) -> None:
        """Store a run-level setting or result under ``key`` in the ``meta`` table (e.g. the dynamics selection)."""
        self.flush()
        self._con.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]
        )
        self._dirty = True


def _db_value(field: str, value: Any) -> Any:
    """A model field as stored: JSON text, a checked status, strings for paths, None for a missing seed."""
    if field in JSON_FIELDS:
        return to_json(value or {})
    if field == "status":
        if value not in STATUSES:
            raise InputError(None, "status", "'ok' or 'failed'", got=value)
        return str(value)
    if field == "seed":
        return None if value is None else int(value)
    if field in ("fit_wall_time_s", "eval_cost_s_per_atom_step"):
        return as_float(value)
    return "" if value is None else str(value)
