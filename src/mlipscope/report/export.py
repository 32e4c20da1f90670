"""Export a results database as plain files other tools read: CSV, Parquet or JSON.

Four tables: ``models`` (one row per model: family, training set, hyperparameters, fit status and provenance),
``values`` (long form: one row per value of every evaluation, with its reference, unit and errors; failed
evaluations as one row with their reason), ``errors`` (the wide model x value table the analysis reads) and
``failures`` (failed evaluations with reasons and attempts). :func:`export_structures` writes the structures the
properties relaxed (bulk, defect cells, slabs: the ``structures`` of each evaluation's details) to an ASE database,
one row per (model, property, structure) with its energy, for people who want to inspect geometries.

Everything is read through the :class:`~mlipscope.store.protocol.ResultStore` protocol (records, models, details);
the wide table is :func:`mlipscope.analysis.table.wide_error_table`. (It lives in ``report/``, not ``store/``,
because it builds that analysis table.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlipscope.errors import InputError

FORMATS = ("csv", "parquet", "json")
TABLES = ("models", "values", "errors", "failures")


def export_results(db_path: Path, out_dir: Path, fmt: str = "csv") -> dict[str, Path]:
    """Write the four tables of ``db_path`` as ``out_dir/<table>.<fmt>``; returns table -> path. Reads the
    database read-only, or while a run writes it the snapshot the run published
    (:meth:`~mlipscope.store.duckdb_store.ResultsStore.open_for_reading`)."""
    from mlipscope.analysis.table import wide_error_table
    from mlipscope.store.duckdb_store import ResultsStore
    from mlipscope.store.status import failures_table

    if fmt not in FORMATS:
        raise InputError(None, "--format", f"one of {FORMATS}", got=fmt)
    if not Path(db_path).is_file():
        raise InputError(db_path, "--db", "an existing mlipscope results database")
    with ResultsStore.open_for_reading(db_path) as store:
        records, models = store.records(), store.models()
        tables = {
            "models": models,
            "values": values_table(records, models),
            "errors": wide_error_table(records, models, include_hyperparameters=True).reset_index(),
            "failures": failures_table(records, models),
        }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in tables.items():
        path = out_dir / f"{name}.{fmt}"
        _write(_plain(frame), path, fmt)
        written[name] = path
    return written


#: the columns of :func:`values_table`
VALUE_COLUMNS = (
    "model_id", "family", "training_set_name", "property_label", "config_hash", "status", "reason", "wall_time_s",
    "name", "value", "reference", "unit", "absolute_error", "relative_error", "reference_source", "created",
)  # fmt: skip


def values_table(records: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """A store's records (long form, oldest first) with each model's family and training set."""
    about = models[["model_id", "family", "training_set_name"]] if len(models) else None
    if about is None:
        about = pd.DataFrame({c: pd.Series([], dtype=object) for c in ("model_id", "family", "training_set_name")})
    return records.merge(about, on="model_id", how="left")[list(VALUE_COLUMNS)]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns every format takes: timestamps as ISO text, nested values (dicts, lists) as JSON text."""
    import json

    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            # as UTC text: pandas formats naive timestamps in C but zoned ones one Python object at a time (seconds
            # for the 10⁵ rows of an ensemble's values table)
            utc = out[column].dt.tz_convert("UTC").dt.tz_localize(None)
            out[column] = (utc.astype(str) + "+00:00").where(utc.notna(), "NaT")
        elif pd.api.types.is_datetime64_any_dtype(out[column]):
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


def export_structures(db_path: Path, path: Path) -> int:
    """Write every relaxed structure stored in ``db_path``'s evaluation details to the ASE database ``path``
    (replaced if it exists); rows carry ``model_id``, ``family``, ``property_label``, ``structure`` and the energy
    (eV). Returns the number of rows. Only the latest evaluation of each (model, property) counts."""
    import ase.db
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlipscope.properties.structures import STRUCTURES_KEY, atoms_from_record
    from mlipscope.store.duckdb_store import ResultsStore

    if not Path(db_path).is_file():
        raise InputError(db_path, "--db", "an existing mlipscope results database")
    path = Path(path)
    if path.suffix != ".db":
        raise InputError(path, "--structures", "an ASE database file name ending in .db")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    n = 0
    with ResultsStore.open_for_reading(db_path) as store:
        done = store.records()
        done = done[done["status"] == "ok"].sort_values("created", kind="stable")
        done = done.drop_duplicates(["model_id", "property_label"], keep="last")
        families = store.models().set_index("model_id")["family"] if len(done) else pd.Series(dtype=object)
        done = done.assign(family=done["model_id"].map(families))
        stored = store.details(sorted(set(done["model_id"])))  # one read, not one per evaluation
        with ase.db.connect(path) as out:
            for row in done.itertuples():
                details = stored.get((row.model_id, row.property_label, row.config_hash)) or {}
                for name, record in (details.get(STRUCTURES_KEY) or {}).items():
                    atoms = atoms_from_record(record)
                    atoms.calc = SinglePointCalculator(atoms, energy=record["energy_ev"])
                    family = row.family if isinstance(row.family, str) else ""
                    out.write(
                        atoms,
                        model_id=row.model_id,
                        family=family,
                        property_label=row.property_label,
                        structure=name,
                    )
                    n += 1
    return n
