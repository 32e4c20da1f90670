"""Results of a benchmark run in one DuckDB file: datasets, models, evaluations and their property values.

One process writes (the runner's client); every write method commits before it returns, so a run killed
at any point keeps everything stored so far and a restart skips it (:meth:`ResultsStore.needs_evaluation`:
stored results and deterministic failures are skipped, transient failures retried).
A failed fit or evaluation is a stored result too, with its reason.

Tables:

- ``datasets``: one row per training/test set, keyed by its content hash.
- ``models``: one row per model (fitted ensemble member or external potential), keyed by :func:`model_id_for`.
- ``evaluations``: one row per (model, property label, property config hash), status ``ok`` or ``failed``.
- ``property_values``: the :class:`~mlipscope.properties.base.ErrorRecord` rows of each ok evaluation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError
from mlipscope.properties.base import ErrorRecord
from mlipscope.store.provenance import model_id_for, software_versions, to_json

__all__ = ["ResultsStore", "model_id_for", "software_versions"]

SCHEMA_VERSION = "1"
STATUSES = ("ok", "failed")
METRICS = ("absolute_error", "relative_error", "value")

_SCHEMA = """
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
"""

_MODEL_FIELDS = (
    "family", "hyperparameters", "seed", "training_set_hash", "training_set_name", "fit_wall_time_s",
    "eval_cost_s_per_atom_step", "path", "model_file_hash", "status", "reason", "software_versions"
)  # fmt: skip
_JSON_FIELDS = ("hyperparameters", "software_versions", "details")


def check_is_results_database(path: Path) -> None:
    """Refuse a file that is not an intact mlipscope results database, opening it read-only (nothing is written:
    a truncated file or another program's DuckDB file keeps every byte)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            path, "file contents", f"an intact mlipscope results database (it cannot be opened: {first[:200]})"
        ) from None
    try:
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


class ResultsStore:
    """The results database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise InputError(self.path, "path", "an existing mlipscope results database")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file() and self.path.stat().st_size > 0:
            check_is_results_database(self.path)  # before any write: a foreign or damaged file stays as it is
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
            if not read_only:
                self._con.execute(_SCHEMA)
                self._con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [SCHEMA_VERSION]
                )
        except duckdb.Error as exc:
            raise InputError(
                self.path, "file contents", f"a DuckDB results database that can be opened ({exc})"
            ) from exc

    # -- lifecycle -------------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

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
        updates = ", ".join(f"{k} = excluded.{k}" for k in _MODEL_FIELDS)
        self._con.execute(
            f"INSERT INTO models (model_id, {', '.join(_MODEL_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(values))}) ON CONFLICT (model_id) DO UPDATE SET {updates}",
            values,
        )
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
        row = self._con.execute(
            "SELECT count(*) FROM evaluations WHERE model_id = ? AND property_label = ? AND config_hash = ? "
            "AND list_contains(?, status)",
            [model_id, property_label, config_hash, statuses],
        ).fetchone()
        return bool(row and row[0])

    def needs_evaluation(
        self, model_id: str, property_label: str, config_hash: str, *, max_attempts: int = 2, retry_failed: bool = False
    ) -> bool:
        """Whether to (re)run this evaluation: not stored; or failed with a transient reason (timeout, crash,
        missing module, lost worker; :func:`mlipscope.runner.failures.is_transient`) in fewer than ``max_attempts``
        attempts; or failed at all with ``retry_failed``. Deterministic failures (non-physical output) stay."""
        from mlipscope.runner.failures import is_transient

        row = self._con.execute(
            "SELECT status, reason, attempts FROM evaluations WHERE model_id = ? AND property_label = ? "
            "AND config_hash = ?",
            [model_id, property_label, config_hash],
        ).fetchone()
        if row is None:
            return True
        status, reason, attempts = row
        if status == "ok":
            return False
        return retry_failed or (is_transient(reason or "") and int(attempts or 1) < max_attempts)

    def done_evaluations(self, *, retry_failed: bool = False) -> set[tuple[str, str, str]]:
        """Every stored (model_id, property_label, config_hash); ``retry_failed`` leaves failed ones out."""
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
            + [to_json(software_versions or {}), to_json(details or {})],
            rows,
        )

    def add_failed_evaluation(
        self,
        model_id: str,
        property_label: str,
        config_hash: str,
        reason: str,
        *,
        wall_time_s: float = math.nan,
        software_versions: dict[str, str] | None = None,
    ) -> None:
        """Store a failed evaluation with its reason (replacing any stored one for the same key)."""
        self._write_evaluation(
            [model_id, property_label, config_hash, "failed", str(reason), _float(wall_time_s)]
            + [to_json(software_versions or {}), to_json({})],
            [],
        )

    def _write_evaluation(self, evaluation: list[Any], values: list[list[Any]]) -> None:
        self._require_model(evaluation[0])
        key = "model_id = ? AND property_label = ? AND config_hash = ?"
        con = self._con
        con.execute("BEGIN TRANSACTION")
        try:
            # the primary-key lookup is cheap; the delete scans property_values, so only run it on a re-run
            found = con.execute(f"SELECT attempts FROM evaluations WHERE {key}", evaluation[:3]).fetchone()
            attempts = 1
            if found:
                attempts = int(found[0] or 1) + 1  # an evaluation run again (a retried failure) counts its attempts
                con.execute(f"DELETE FROM property_values WHERE {key}", evaluation[:3])
                con.execute(f"DELETE FROM evaluations WHERE {key}", evaluation[:3])
            con.execute(
                "INSERT INTO evaluations (model_id, property_label, config_hash, status, reason, "
                "wall_time_s, software_versions, details, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*evaluation, attempts],
            )
            if values:  # one multi-row statement: much cheaper than executemany for a few rows
                rows = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(values))
                con.execute(f"INSERT INTO property_values VALUES {rows}", [x for row in values for x in row])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def evaluation_details(self, model_id: str, property_label: str, config_hash: str) -> dict[str, Any] | None:
        """The ``details`` (curves, spectra) stored with an evaluation, or None when it is not stored."""
        row = self._con.execute(
            "SELECT details FROM evaluations WHERE model_id = ? AND property_label = ? AND config_hash = ?",
            [model_id, property_label, config_hash],
        ).fetchone()
        return None if row is None else json.loads(row[0] or "{}")

    def evaluations(self) -> pd.DataFrame:
        """Long form: a row per value of each ok evaluation and one per failed evaluation (values null)."""
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
        """Failed evaluations with their reasons (failed fits are in :meth:`models`, status ``failed``)."""
        return self._con.execute(
            """SELECT e.model_id, m.family, e.property_label, e.config_hash, e.reason, e.wall_time_s,
                      e.attempts, e.created FROM evaluations e LEFT JOIN models m USING (model_id)
               WHERE e.status = 'failed' ORDER BY e.created, e.model_id"""
        ).df()

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
        row = self._con.execute("SELECT count(*) FROM models WHERE model_id = ?", [model_id]).fetchone()
        if not row or not row[0]:
            raise InputError(self.path, "model_id", "a registered model (call register_model first)", got=model_id)


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
