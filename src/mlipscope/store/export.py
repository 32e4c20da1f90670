"""Export a results database as plain files other tools read: CSV, Parquet or JSON.

Four tables: ``models`` (one row per model: family, training set, hyperparameters, fit status and provenance),
``values`` (long form: one row per value of every evaluation, with its reference, unit and errors; failed
evaluations as one row with their reason), ``errors`` (the wide model x value table the analysis reads) and
``failures`` (failed evaluations with reasons and attempts).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlipscope.errors import InputError

FORMATS = ("csv", "parquet", "json")
TABLES = ("models", "values", "errors", "failures")


def export_results(db_path: Path, out_dir: Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables of ``db_path`` as ``out_dir/<table>.<fmt>``; returns table -> path. Reads the
    database read-only (works beside a finished run; a run in progress holds the lock)."""
    from mlipscope.store.duckdb_store import ResultsStore

    if fmt not in FORMATS:
        raise InputError(None, "--format", f"one of {FORMATS}", got=fmt)
    if not Path(db_path).is_file():
        raise InputError(db_path, "--db", "an existing mlipscope results database")
    with ResultsStore(db_path, read_only=True) as store:
        tables = {
            "models": store.models(),
            "values": store.evaluations(),
            "errors": store.error_table(include_hyperparameters=True).reset_index(),
            "failures": store.failures(),
        }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.{fmt}"
        _write(_plain(frame), path, fmt)
        written[name] = path
    return written


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns every format takes: timestamps as ISO text, nested values (dicts, lists) as JSON text."""
    import json

    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].astype(str)
        elif out[column].dtype == object and out[column].map(lambda v: isinstance(v, dict | list)).any():
            out[column] = out[column].map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
    return out


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", indent=1, force_ascii=False, double_precision=15)
