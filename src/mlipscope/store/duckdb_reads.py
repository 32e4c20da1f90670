"""The DuckDB store's reads: the protocol's (:meth:`~DuckDBReads.models`, :meth:`~DuckDBReads.records`,
:meth:`~DuckDBReads.details` with their numpy arrays (:mod:`~mlipscope.store.details_arrays`),
:meth:`~DuckDBReads.plan`, :meth:`~DuckDBReads.get_meta`) and the long and failure tables the runner and the report
read. Whole-table reads write a batch's buffer first. A mixin of :class:`~mlipscope.store.duckdb_store.ResultsStore`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from mlipscope.errors import InputError
from mlipscope.failures import stored_or_legacy_kind
from mlipscope.store.details_arrays import SharedArrays, join_arrays
from mlipscope.store.protocol import PLAN_COLUMNS, RECORD_COLUMNS, EvaluationKey
from mlipscope.store.status import failures_table

if TYPE_CHECKING:
    import pandas as pd

METRICS = ("absolute_error", "relative_error", "value")
JSON_FIELDS = ("hyperparameters", "software_versions", "details")


class DuckDBReads:
    """Reads of the results database; set up by the store's ``__init__``."""

    path: Path
    _con: duckdb.DuckDBPyConnection | None
    _evaluation_columns: set[str] | None
    _shared: SharedArrays | None

    if TYPE_CHECKING:  # the buffer's (declared here for type checkers only)

        def _flush(self, *, publish: bool = True) -> None: ...

    def _has_column(self, column: str) -> bool:
        """Whether ``evaluations`` has ``column`` (a file of an older schema read as it is may not); asked once per
        store and column: lookups of single keys ask often."""
        if self._evaluation_columns is None:
            self._evaluation_columns = {
                row[0]
                for row in self._con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'evaluations'"
                ).fetchall()
            }
        return column in self._evaluation_columns

    def _has_table(self, table: str) -> bool:
        """Whether the file has ``table`` (a file of an older schema read as it is may not)."""
        query = "SELECT count(*) FROM information_schema.tables WHERE table_name = ?"
        return self._con.execute(query, [table]).fetchall()[0][0] > 0

    def _kind_sql(self, table: str = "") -> str:
        """SQL for ``evaluations.failure_kind`` (``table``: its alias in the query), or NULL in a schema-1 file read
        as it is (no such column: :func:`~mlipscope.failures.stored_or_legacy_kind` then reads the reason)."""
        return f"{table + '.' if table else ''}failure_kind" if self._has_column("failure_kind") else "NULL::VARCHAR"

    def _arrays_sql(self) -> str:
        """SQL for ``evaluations.arrays`` (the binary arrays of the details), NULL in a file of schema 1 or 2."""
        return "arrays" if self._has_column("arrays") else "NULL::BLOB"

    def _shared_arrays(self) -> SharedArrays:
        """The shared arrays of the details (:mod:`~mlipscope.store.details_arrays`), read from the file once (none
        in a file of schema 1 to 3 read as it is); a writer keeps them up to date as it writes."""
        if self._shared is None:
            found = self._has_table("shared_arrays")
            rows = self._con.execute("SELECT hash, payload FROM shared_arrays").fetchall() if found else []
            self._shared = SharedArrays({key: bytes(payload) for key, payload in rows})
        return self._shared

    # -- the protocol's reads --------------------------------------------------------------------------------
    def models(self) -> pd.DataFrame:
        """All models, one row each (JSON fields decoded to dicts), oldest first."""
        return _decode(self._con.execute("SELECT * FROM models ORDER BY created, model_id").df())

    def records(self) -> pd.DataFrame:
        """Every stored evaluation in long form (:data:`~mlipscope.store.protocol.RECORD_COLUMNS`): a row per value
        of an ok evaluation, one row with null values per failed one (its kind read from its reason in a schema-1
        file read as it is), oldest first."""
        self._flush()
        table = self._con.execute(
            f"""SELECT e.model_id, e.property_label, e.config_hash, e.status, {self._kind_sql("e")} AS failure_kind,
                      e.reason, e.wall_time_s, e.attempts, e.created, v.name, v.value, v.reference, v.unit,
                      v.absolute_error, v.relative_error, v.reference_source
               FROM evaluations e LEFT JOIN property_values v USING (model_id, property_label, config_hash)
               ORDER BY e.created, e.model_id, e.property_label, v.rowid"""
        ).df()
        failed = table["status"] == "failed"
        if failed.any() and table.loc[failed, "failure_kind"].isna().any():
            kinds = [stored_or_legacy_kind(k, r).value for k, r in table.loc[failed, ["failure_kind", "reason"]].values]
            table.loc[failed, "failure_kind"] = kinds
        return table[list(RECORD_COLUMNS)]

    def details(self, model_ids: Sequence[str]) -> dict[EvaluationKey, dict[str, Any]]:
        """The stored details of every evaluation of ``model_ids`` in one query (a lookup of one evaluation scans
        the table, so this is the way to read many)."""
        self._flush()
        if not model_ids:
            return {}
        rows = self._con.execute(
            f"SELECT model_id, property_label, config_hash, details, {self._arrays_sql()} FROM evaluations "
            "WHERE list_contains(?, model_id)",
            [list(model_ids)],
        ).fetchall()
        shared = self._shared_arrays().payloads()
        return {EvaluationKey(m, p, h): join_arrays(json.loads(d or "{}"), a, shared) for m, p, h, d, a in rows}

    def plan(self) -> pd.DataFrame:
        """The recorded run plan (:data:`~mlipscope.store.protocol.PLAN_COLUMNS`), in the order it was recorded."""
        import pandas as pd

        if not self._has_table("run_plan"):  # an old file read as it is
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in PLAN_COLUMNS})
        return self._con.execute(f"SELECT {', '.join(PLAN_COLUMNS)} FROM run_plan ORDER BY rowid").df()

    def get_meta(self, key: str) -> str | None:
        """A run-level setting or result stored under ``key`` (None when there is none)."""
        rows = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    # -- tables of the runner and the report -----------------------------------------------------------------
    def datasets(self) -> pd.DataFrame:
        return self._con.execute("SELECT * FROM datasets ORDER BY created").df()

    def evaluations(self) -> pd.DataFrame:
        """Long form with each model's family and training set: a row per value of each ok evaluation and one per
        failed evaluation (values null)."""
        self._flush()
        return self._con.execute(_long_form_sql("e.created")).df()

    def evaluation_rows(self, model_id: str, config_hashes: Sequence[str]) -> list[dict[str, Any]]:
        """The rows of :meth:`evaluations` for one model's evaluations with these config hashes, as dicts (no pandas:
        a one-property ``benchmark`` does not import it); ``created`` in milliseconds since the epoch and a missing
        number as None, as pandas' JSON has them."""
        self._flush()
        where = "WHERE e.model_id = ? AND list_contains(?, e.config_hash)"
        cursor = self._con.execute(_long_form_sql("epoch_ms(e.created)", where), [model_id, list(config_hashes)])
        columns = [c[0] for c in cursor.description]
        return [
            {c: (None if isinstance(v, float) and v != v else v) for c, v in zip(columns, row, strict=True)}
            for row in cursor.fetchall()
        ]

    def failures(self) -> pd.DataFrame:
        """Failed evaluations with their kinds and reasons (failed fits are in :meth:`models`, status ``failed``):
        :func:`mlipscope.store.status.failures_table` of the records."""
        return failures_table(self.records(), self.models())


def _long_form_sql(created: str, where: str = "") -> str:
    """The query of :meth:`DuckDBReads.evaluations` with ``created`` as the SQL expression given and a WHERE clause."""
    return f"""SELECT e.model_id, m.family, m.training_set_name, e.property_label, e.config_hash, e.status,
                      e.reason, e.wall_time_s, v.name, v.value, v.reference, v.unit, v.absolute_error,
                      v.relative_error, v.reference_source, {created} AS created
               FROM evaluations e
               LEFT JOIN models m USING (model_id)
               LEFT JOIN property_values v USING (model_id, property_label, config_hash)
               {where}
               ORDER BY e.created, e.model_id, e.property_label, v.rowid"""


def sql_error_table(
    store: DuckDBReads, metric: str, include_failed_models: bool, include_hyperparameters: bool
) -> pd.DataFrame:
    """The wide table as SQL built it before ``analysis.table.wide_error_table`` (kept as the reference the tests
    compare that function with)."""
    import pandas as pd

    if metric not in METRICS:
        raise InputError(None, "metric", f"one of {list(METRICS)}", got=metric)
    store._flush()
    models = store._con.execute(
        """SELECT model_id, family, training_set_name, seed, hyperparameters, status FROM models
           WHERE (status = 'ok' AND model_id IN (SELECT model_id FROM evaluations))
              OR (status = 'failed' AND ?)
           ORDER BY model_id""",
        [bool(include_failed_models)],
    ).df()
    values = store._con.execute(
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


def _decode(df: pd.DataFrame) -> pd.DataFrame:
    for col in JSON_FIELDS:
        if col in df.columns:
            df[col] = [json.loads(v) if isinstance(v, str) else v for v in df[col]]
    return df
