"""The results database as a file: its schema and version (with the migration of older versions), the integrity
check every command makes before it opens a file, the lock another writer holds, and the snapshot readers use
while a writer runs. :class:`~mlipscope.store.duckdb_store.ResultsStore` builds on these."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from mlipscope.errors import InputError
from mlipscope.failures import kind_of_legacy_reason
from mlipscope.store.status import duration_text

log = logging.getLogger(__name__)

#: "1": failure kinds only in the reason text; "2": ``evaluations.failure_kind`` (a v1 database opened for writing
#: is migrated, its kinds read once from the reasons; a reader of a v1 database does the same on the fly); "3":
#: ``evaluations.arrays``, the numpy arrays of the details in binary (:mod:`mlipscope.store.details_arrays`; the
#: column is added on opening for writing, a reader of an older file reads NULL); "4": the table ``shared_arrays``, the
#: packed arrays many evaluations hold, kept once (the details refer to them by hash; created on opening for writing,
#: a reader of an older file finds none and needs none)
SCHEMA_VERSION = "4"
KNOWN_SCHEMA_VERSIONS = ("1", "2", "3", "4")
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS datasets (
    hash VARCHAR PRIMARY KEY, name VARCHAR, path VARCHAR, n_frames INTEGER, n_atoms BIGINT,
    created TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS models (
    model_id VARCHAR PRIMARY KEY, family VARCHAR NOT NULL, hyperparameters JSON, seed BIGINT,
    training_set_hash VARCHAR, training_set_name VARCHAR, fit_wall_time_s DOUBLE,
    eval_cost_s_per_atom_step DOUBLE, path VARCHAR, model_file_hash VARCHAR,
    status VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')), reason VARCHAR, software_versions JSON,
    created TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS evaluations (
    model_id VARCHAR NOT NULL, property_label VARCHAR NOT NULL, config_hash VARCHAR NOT NULL,
    status VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')), reason VARCHAR, wall_time_s DOUBLE,
    software_versions JSON, details JSON, created TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (model_id, property_label, config_hash));
CREATE TABLE IF NOT EXISTS property_values (
    model_id VARCHAR NOT NULL, property_label VARCHAR NOT NULL, config_hash VARCHAR NOT NULL,
    name VARCHAR NOT NULL, value DOUBLE, reference DOUBLE, unit VARCHAR, absolute_error DOUBLE,
    relative_error DOUBLE, reference_source VARCHAR);
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS attempts INTEGER DEFAULT 1;
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS failure_kind VARCHAR;
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS arrays BLOB;
CREATE TABLE IF NOT EXISTS run_plan (model_id VARCHAR NOT NULL, property_label VARCHAR NOT NULL, config_hash VARCHAR);
CREATE TABLE IF NOT EXISTS shared_arrays (hash VARCHAR PRIMARY KEY, payload BLOB NOT NULL);
"""
SNAPSHOT_SUFFIX = ".snapshot.duckdb"
#: a DuckDB file starts with three 4 KiB headers (file header, two alternating database headers), then whole blocks
_HEADER_BYTES = 3 * 4096
#: the columns that key an evaluation
KEY_COLUMNS = ("model_id", "property_label", "config_hash")


def check_is_results_database(path: Path) -> None:
    """Refuse a file that is not an intact mlipscope results database, opening it read-only (nothing is written:
    a truncated file or another program's DuckDB file keeps every byte)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise_if_locked(path, exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            path, "file contents", f"an intact mlipscope results database (it cannot be opened: {first[:200]})"
        ) from None
    try:
        _check_file_size(path, con)
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = None
        if "meta" in tables:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = row[0] if row else None
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(
            path, "file contents", f"an intact mlipscope results database (it cannot be read: {first[:200]})"
        ) from None
    finally:
        con.close()
    missing = {"meta", "models", "evaluations", "property_values"} - tables
    if version is None or missing:
        shown = sorted(tables)[:8]
        raise InputError(
            path, "tables", f"an mlipscope results database (tables meta, models, evaluations, ...); it has {shown}"
        )
    if version not in KNOWN_SCHEMA_VERSIONS:
        raise InputError(
            path,
            "meta.schema_version",
            f"a schema version this mlipscope knows ({', '.join(KNOWN_SCHEMA_VERSIONS)}; a newer mlipscope wrote "
            "this file: read it with that version)",
            got=version,
        )


def _check_file_size(path: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Refuse a file cut short (a full disk, an interrupted copy): DuckDB opens it and reads its catalog, and fails
    (or, writing, grows the file) only when it reaches a lost block. A DuckDB file is its headers and whole blocks,
    and it holds at least every block in use (free blocks at its end may be cut off by DuckDB itself)."""
    block_bytes, used_blocks = con.execute("SELECT block_size, used_blocks FROM pragma_database_size()").fetchone()
    size_bytes = path.stat().st_size
    blocks, partial_bytes = divmod(size_bytes - _HEADER_BYTES, int(block_bytes))
    if size_bytes < _HEADER_BYTES or partial_bytes or blocks < int(used_blocks):
        raise InputError(
            path,
            "file size",
            f"an intact mlipscope results database: {size_bytes} bytes is not whole blocks of {block_bytes} bytes "
            f"holding its {used_blocks} used blocks, so the file was cut short (a full disk, an interrupted copy); "
            f"nothing was written to it: restore it from a copy{_snapshot_hint(path)} or give a new --db to start "
            "again",
        )


def _snapshot_hint(path: Path) -> str:
    return "" if path.name.endswith(SNAPSHOT_SUFFIX) else f" (the snapshot {snapshot_path_for(path).name}, if any)"


def migrate_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a file opened for writing (its columns already added by :data:`SCHEMA_SQL`) to :data:`SCHEMA_VERSION`:
    schema 1 -> 2 reads the failure kind of every failed evaluation once from its reason into its column; 2 -> 3
    and 3 -> 4 need nothing beyond the new column and table."""
    if con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == SCHEMA_VERSION:
        return
    rows = con.execute(
        "SELECT model_id, property_label, config_hash, reason FROM evaluations "
        "WHERE status = 'failed' AND failure_kind IS NULL"
    ).fetchall()
    con.execute("BEGIN TRANSACTION")
    try:
        if rows:
            kinds = pa.table(
                {
                    **{k: pa.array([r[i] for r in rows], pa.string()) for i, k in enumerate(KEY_COLUMNS)},
                    "kind": pa.array([kind_of_legacy_reason(r[3]).value for r in rows], pa.string()),
                }
            )
            con.register("_mlipscope_kinds", kinds)
            try:
                con.execute(
                    "UPDATE evaluations e SET failure_kind = k.kind FROM _mlipscope_kinds k WHERE "
                    "e.model_id = k.model_id AND e.property_label = k.property_label AND e.config_hash = k.config_hash"
                )
            finally:
                con.unregister("_mlipscope_kinds")
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [SCHEMA_VERSION])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info("database migrated to schema %s: %d failure kinds read from reasons", SCHEMA_VERSION, len(rows))


#: :func:`compacted_copy` rewrites a file whose free blocks hold at least this many bytes and
#: :data:`COMPACT_MIN_FREE_SHARE` of its used blocks (the copy takes ~0.5 s per 30 MB: cheap beside the run that left
#: them; the scale example's store had 12 % free blocks, 4 MB)
COMPACT_MIN_FREE_BYTES = 2**20
COMPACT_MIN_FREE_SHARE = 0.05
_COMPACT_ALIAS = "mlipscope_compact"


def compacted_copy(con: duckdb.DuckDBPyConnection, path: Path, *, min_free_bytes: int | None = None) -> Path | None:
    """A copy of the database without free blocks (``<db>.compact-<pid>``), when they hold ``min_free_bytes``
    (default :data:`COMPACT_MIN_FREE_BYTES`) and :data:`COMPACT_MIN_FREE_SHARE` of its data; else None.

    Why: a DuckDB checkpoint rewrites every row group that gained rows, and a table of fewer than ~120 000 rows
    (the evaluations of a 2000-member run) is one row group, so each checkpoint (every published snapshot) writes
    the whole table again and frees its previous blocks. They are reused, but the file keeps some (up to about
    twice its data).
    """
    block_bytes, used, free = con.execute(
        "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()[0]
    least = COMPACT_MIN_FREE_BYTES if min_free_bytes is None else min_free_bytes
    if free * block_bytes < least or free < used * COMPACT_MIN_FREE_SHARE:
        return None
    target = path.with_name(f"{path.name}.compact-{os.getpid()}")
    target.unlink(missing_ok=True)
    name = con.execute("SELECT current_database()").fetchall()[0][0].replace('"', '""')
    con.execute(f"ATTACH '{str(target).replace(chr(39), chr(39) * 2)}' AS {_COMPACT_ALIAS}")
    try:
        con.execute(f'COPY FROM DATABASE "{name}" TO {_COMPACT_ALIAS}')
    except BaseException:
        con.execute(f"DETACH {_COMPACT_ALIAS}")
        target.unlink(missing_ok=True)
        raise
    con.execute(f"DETACH {_COMPACT_ALIAS}")
    return target


def replace_with_compacted(path: Path, compacted: Path) -> bool:
    """Put ``compacted`` in the place of ``path`` once its writer has closed it, unless someone still has it open
    (another connection of this process, another process) or it has a write-ahead log: then the copy is dropped and
    the file stays as it is. Returns whether it was replaced."""
    try:
        probe = duckdb.connect(str(path), read_only=True)  # refused while any other connection holds the file
        probe.close()
        usable = not path.with_name(path.name + ".wal").exists()
    except duckdb.Error:
        usable = False
    if usable:
        try:
            os.replace(compacted, path)
        except OSError:  # e.g. a Windows handle still open: the file stays as it is
            usable = False
    if not usable:
        compacted.unlink(missing_ok=True)
    return usable


class DatabaseLockedError(InputError):
    """The database is open for writing in another process (DuckDB allows no reader beside a writer)."""

    def __init__(self, path: str | Path, holder: str) -> None:
        self.holder = holder  # e.g. "PID 1234", from DuckDB's message
        super().__init__(
            path,
            "lock",
            f"a database no other process is writing (it is being written by {holder}; readers use the snapshot "
            f"{snapshot_path_for(Path(path)).name} its writer publishes, and there is none yet: `mlipscope run` "
            "publishes one within seconds of starting, other writers do not)",
        )


def raise_if_locked(path: Path, exc: duckdb.Error) -> None:
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        pid = re.search(r"\(PID (\d+)\)", text)
        raise DatabaseLockedError(path, f"PID {pid.group(1)}" if pid else "another process") from None
    if "different configuration than existing connections" in text:  # this very process holds it for writing
        raise DatabaseLockedError(path, f"this process (PID {os.getpid()})") from None


def copy_without_closing_our_lock(source: Path, target: Path) -> None:
    """Copy ``source`` byte for byte in a child process. DuckDB's lock is a POSIX record lock, which a process loses
    when it closes *any* descriptor of the file: copying in this process would unlock the database for others."""
    cp = shutil.which("cp") if os.name == "posix" else None
    if cp is None:  # Windows locks belong to a handle: another handle may read and close freely
        shutil.copyfile(source, target)
        return
    done = subprocess.run([cp, "--", str(source), str(target)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(f"cp failed: {done.stderr.strip()[:200]}")


def snapshot_path_for(path: str | Path) -> Path:
    """Where the writer of ``path`` publishes its snapshot: ``<db>.snapshot.duckdb`` beside it."""
    path = Path(path)
    return path.with_name(path.name + SNAPSHOT_SUFFIX)


def readable_database(path: str | Path) -> tuple[Path, str]:
    """The file to read ``path``'s results from now, and a note for the user: ``path`` itself (note empty) when
    no process writes it, else the snapshot its writer published, with its age. A missing database, or a locked one
    with no snapshot yet, is an :class:`InputError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "--db", "an existing mlipscope results database")
    try:
        check_is_results_database(path)
        return path, ""
    except DatabaseLockedError as locked:
        snapshot = snapshot_path_for(path)
        if not snapshot.is_file():
            raise
        check_is_results_database(snapshot)
        age_s = max(time.time() - snapshot.stat().st_mtime, 0.0)
        note = (
            f"{path} is being written by {locked.holder}: reading its snapshot {snapshot.name}, "
            f"published {duration_text(age_s)} ago"
        )
        return snapshot, note
