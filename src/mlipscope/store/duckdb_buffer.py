"""The DuckDB store's writes of evaluations: buffered in a :meth:`~BufferedWrites.batch` and committed together
(one transaction, Arrow inserts: DuckDB spends about a millisecond per statement, so per-row INSERTs cap a writer
at ~70 evaluations/s), and the key lookups a rerun makes (:meth:`~BufferedWrites.stored_states`), which see
buffered results. A mixin of :class:`~mlipscope.store.duckdb_store.ResultsStore`."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from mlipscope.errors import InputError
from mlipscope.failures import stored_or_legacy_kind
from mlipscope.store.database_file import KEY_COLUMNS
from mlipscope.store.details_arrays import SharedArrays, join_arrays, split_arrays
from mlipscope.store.protocol import EvaluationKey, Record, Status, StoredState
from mlipscope.store.provenance import to_json

_EVALUATION_COLUMNS = (
    "model_id", "property_label", "config_hash", "status", "reason", "wall_time_s", "software_versions", "details",
    "failure_kind", "arrays",
)  # fmt: skip
_DETAILS, _ARRAYS = _EVALUATION_COLUMNS.index("details"), _EVALUATION_COLUMNS.index("arrays")
_ARROW_TYPES = {"wall_time_s": pa.float64(), "arrays": pa.binary()}
_VALUE_COLUMNS = (
    "model_id", "property_label", "config_hash", "name", "value", "reference", "unit", "absolute_error",
    "relative_error", "reference_source",
)  # fmt: skip
_FLOAT_VALUES = frozenset({"value", "reference", "absolute_error", "relative_error"})
_KEY_WHERE = "model_id = ? AND property_label = ? AND config_hash = ?"


def as_float(x: Any) -> float:
    return math.nan if x is None else float(x)


def evaluation_rows(record: Record, shared: SharedArrays | None = None) -> tuple[list[Any], list[list[Any]]]:
    """A record as its ``evaluations`` row (:data:`_EVALUATION_COLUMNS`) and its ``property_values`` rows; with
    ``shared``, the arrays it has seen before are referred to (:mod:`mlipscope.store.details_arrays`)."""
    key = list(record.key)
    values = [
        [*key, r.name, as_float(r.value), as_float(r.reference), r.unit]
        + [as_float(r.absolute_error), as_float(r.relative_error), r.reference_source]
        for r in record.values
    ]
    kind = None if record.failure_kind is None else record.failure_kind.value
    evaluation = [*key, record.status.value, str(record.reason), as_float(record.wall_time_s)]
    details, arrays = split_arrays(record.details or {}, shared)  # numpy arrays in binary (store.details_arrays)
    evaluation += [to_json(record.software_versions or {}), to_json(details), kind, arrays]
    return evaluation, values


def pending_details(evaluation: list[Any], shared: SharedArrays) -> dict[str, Any]:
    """The details of a buffered ``evaluations`` row."""
    return join_arrays(json.loads(evaluation[_DETAILS] or "{}"), evaluation[_ARRAYS], shared.payloads())


def stored_state(status: str, kind: str | None, reason: str | None, attempts: Any) -> StoredState:
    """A stored row's state; a failure without a stored kind (a schema-1 file read as it is) by its reason."""
    if status == Status.OK:
        return StoredState(Status.OK, None, int(attempts or 1))
    return StoredState(Status.FAILED, stored_or_legacy_kind(kind, reason), int(attempts or 1))


@dataclass
class _Pending:
    """A buffered evaluation: its row, its value rows, and how often it was stored in this batch (attempts)."""

    evaluation: list[Any]
    values: list[list[Any]]
    created: dt.datetime
    n_stored: int = 1


class BufferedWrites:
    """Evaluations buffered in a batch and written in one transaction; set up by the store's ``__init__``."""

    path: Path
    read_only: bool
    _con: duckdb.DuckDBPyConnection | None
    _pending: dict[tuple[str, str, str], _Pending]
    _batch_depth: int
    _batch_max_rows: int
    _batch_max_delay_s: float
    _oldest_pending_s: float
    _publishing: bool
    _dirty: bool

    if TYPE_CHECKING:  # defined by the store and its reads (declared here for type checkers only)

        def _require_model(self, model_id: str) -> None: ...

        def publish_snapshot(self, *, force: bool = False) -> Path | None: ...

        def _kind_sql(self, table: str = "") -> str: ...

        def _shared_arrays(self) -> SharedArrays: ...

    @contextlib.contextmanager
    def batch(self, *, max_rows: int = 2000, max_delay_s: float = 5.0) -> Iterator[Any]:
        """Buffer stored evaluations (:meth:`put_records`, ``add_evaluation``, ``add_failed_evaluation``) and commit
        them together in one transaction at exit (also on an exception: they are finished results), or sooner once
        ``max_rows`` evaluations are buffered or a store comes ``max_delay_s`` after the oldest buffered one;
        :meth:`flush` and ``publish_snapshot`` write them at once. Reads see buffered results (lookups of keys
        consult the buffer; whole-table reads write it first). A process killed inside a batch loses its buffered
        results (a rerun computes them again). Batches nest; the outermost one's limits count."""
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

    # -- the protocol's writes and key lookups ---------------------------------------------------------------
    def put_records(self, records: Iterable[Record]) -> int:
        """Store evaluation outcomes in one transaction (inside a :meth:`batch`, with its buffer), each replacing
        one stored under its key with its attempts counted; returns how many."""
        n = 0
        with self.batch(max_rows=1 << 30, max_delay_s=math.inf):
            for record in records:
                if not isinstance(record, Record):
                    raise InputError(self.path, "put_records", "mlipscope.store.protocol.Record items", got=record)
                self._write_evaluation(*evaluation_rows(record, self._shared_arrays()))
                n += 1
        return n

    def stored_states(self, keys: Iterable[EvaluationKey] | None = None) -> dict[EvaluationKey, StoredState]:
        """The state of each stored key among ``keys`` (None: every stored key), buffered ones included."""
        kind = self._kind_sql()
        if keys is None:
            self._flush()
            rows = self._con.execute(
                f"SELECT model_id, property_label, config_hash, status, {kind}, reason, attempts FROM evaluations"
            ).fetchall()
            return {EvaluationKey(m, p, c): stored_state(*rest) for m, p, c, *rest in rows}
        wanted = [EvaluationKey(*k) for k in keys]
        found = self._lookup(wanted, f"status, {kind}, reason, attempts")
        states = {key: stored_state(*rest) for key, rest in found.items()}
        for key in wanted:
            pending = self._pending.get(key)
            if pending is not None:  # the attempts the flush will store: buffered ones plus the stored ones
                stored = states.get(key)
                n = pending.n_stored + (stored.attempts if stored else 0)
                states[key] = stored_state(pending.evaluation[3], pending.evaluation[8], pending.evaluation[4], n)
        return states

    # -- buffer and transactions -----------------------------------------------------------------------------
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

    def _lookup(self, keys: list[EvaluationKey], columns: str) -> dict[EvaluationKey, tuple[Any, ...]]:
        """``columns`` of the stored evaluations among ``keys`` (absent keys are left out)."""
        if not keys:
            return {}
        if len(keys) == 1:  # a primary-key lookup: no scan of the table
            # fetchall: a half-fetched result blocks the register() that may follow
            rows = self._con.execute(f"SELECT {columns} FROM evaluations WHERE {_KEY_WHERE}", list(keys[0])).fetchall()
            return {keys[0]: tuple(rows[0])} if rows else {}
        table = pa.table({k: pa.array([key[i] for key in keys], pa.string()) for i, k in enumerate(KEY_COLUMNS)})
        self._con.register("_mlipscope_keys", table)
        try:
            rows = self._con.execute(
                f"SELECT model_id, property_label, config_hash, {columns} FROM evaluations "
                "SEMI JOIN _mlipscope_keys USING (model_id, property_label, config_hash)"
            ).fetchall()
        finally:
            self._con.unregister("_mlipscope_keys")
        return {EvaluationKey(m, p, c): tuple(rest) for m, p, c, *rest in rows}

    def _stored_attempts(self, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        """Attempts of the stored evaluations among ``keys`` (absent keys are left out)."""
        found = self._lookup([EvaluationKey(*k) for k in keys], "attempts")
        return {key: int(row[0] or 1) for key, row in found.items()}

    def _flush(self, *, publish: bool = True) -> None:
        """Write every buffered evaluation in one transaction: replaced ones deleted first, then the new rows (two
        Arrow inserts for many, and the shared arrays they were the first to refer to). On an error nothing of the
        buffer is written and the buffer is dropped."""
        if not self._pending or self._con is None:
            return
        pending, self._pending = self._pending, {}
        shared = self._shared_arrays()
        try:
            if len(pending) == 1:
                self._write_one(*pending.items())
            else:
                self._write_many(pending)
        except BaseException:
            shared.dropped()
            raise
        shared.written()
        self._dirty = True
        if publish and self._publishing:  # a publishing writer keeps its snapshot fresh in a long stream of results
            self.publish_snapshot()

    def _write_one(self, item: tuple[tuple[str, str, str], _Pending]) -> None:
        """One evaluation with parameterised statements: for a single row cheaper than registering Arrow tables."""
        key, p = item
        with self._transaction() as con:
            found = con.execute(f"SELECT attempts FROM evaluations WHERE {_KEY_WHERE}", list(key)).fetchall()
            if found:  # an evaluation run again (a retried failure) counts its attempts; its old values go
                con.execute(f"DELETE FROM property_values WHERE {_KEY_WHERE}", list(key))
                con.execute(f"DELETE FROM evaluations WHERE {_KEY_WHERE}", list(key))
            attempts = (int(found[0][0] or 1) if found else 0) + p.n_stored
            con.execute(
                f"INSERT INTO evaluations ({', '.join(_EVALUATION_COLUMNS)}, created, attempts) "
                f"VALUES ({', '.join('?' * (len(_EVALUATION_COLUMNS) + 2))})",
                [*p.evaluation, p.created, attempts],
            )
            self._insert_shared(con)
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
                self._delete_keys(con, list(stored))
            items = list(pending.values())
            columns = list(zip(*(p.evaluation for p in items), strict=True))
            evaluations = pa.table(
                {
                    **{
                        name: pa.array(col, _ARROW_TYPES.get(name, pa.string()))
                        for name, col in zip(_EVALUATION_COLUMNS, columns, strict=True)
                    },
                    "created": pa.array([p.created for p in items], pa.timestamp("us", tz="UTC")),
                    "attempts": pa.array([stored.get(k, 0) + p.n_stored for k, p in pending.items()], pa.int32()),
                }
            )
            self._insert_arrow(con, "evaluations", evaluations)
            self._insert_shared(con)
            values = [row for p in items for row in p.values]
            if values:
                value_columns = zip(_VALUE_COLUMNS, zip(*values, strict=True), strict=True)
                table = pa.table(
                    {
                        name: pa.array(col, pa.float64() if name in _FLOAT_VALUES else pa.string())
                        for name, col in value_columns
                    }
                )
                self._insert_arrow(con, "property_values", table)

    def _insert_shared(self, con: duckdb.DuckDBPyConnection) -> None:
        """The shared arrays the buffered rows were the first to refer to (in their transaction)."""
        pending = self._shared_arrays().pending
        if pending:
            table = pa.table(
                {"hash": pa.array(list(pending), pa.string()), "payload": pa.array(list(pending.values()), pa.binary())}
            )
            con.register("_mlipscope_shared", table)
            try:
                con.execute("INSERT OR IGNORE INTO shared_arrays BY NAME SELECT * FROM _mlipscope_shared")
            finally:
                con.unregister("_mlipscope_shared")

    @staticmethod
    def _delete_keys(con: duckdb.DuckDBPyConnection, keys: list[tuple[str, str, str]]) -> None:
        replaced = pa.table({k: pa.array([key[i] for key in keys], pa.string()) for i, k in enumerate(KEY_COLUMNS)})
        con.register("_mlipscope_replaced", replaced)
        try:
            for table in ("property_values", "evaluations"):
                con.execute(
                    f"DELETE FROM {table} t USING _mlipscope_replaced r WHERE t.model_id = r.model_id "
                    "AND t.property_label = r.property_label AND t.config_hash = r.config_hash"
                )
        finally:
            con.unregister("_mlipscope_replaced")

    @staticmethod
    def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
        con.register("_mlipscope_rows", rows)
        try:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _mlipscope_rows")
        finally:
            con.unregister("_mlipscope_rows")

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
