"""The wide error table every analysis starts from: one row per model, one column per property error.

Columns are split into *errors* (numeric, one per property; NaN marks a failed evaluation) and *metadata* (the MLIP
type column, ``training_set_name`` and hyperparameters). A column is metadata when it is the type column, is named in
``metadata_columns``, is one of :data:`KNOWN_METADATA`, or starts with ``hp.`` (hyperparameters). Every other column
must be numeric: a stray string is reported, not silently dropped, because it usually means a broken export.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlipscope.errors import InputError

KNOWN_METADATA: frozenset[str] = frozenset({"family", "training_set_name", "training_set", "seed", "status"})
HYPERPARAMETER_PREFIX = "hp."
DEFAULT_TYPE = "all"


@dataclass(frozen=True)
class ErrorTable:
    """Errors (float, index ``model_id``) with the metadata of the same models and each model's MLIP type.

    ``source`` names where the table came from (file path or ``<DataFrame>``) for error messages downstream.
    Infinite errors are stored as NaN: an exploded model is a failed evaluation, not a number.
    """

    errors: pd.DataFrame
    metadata: pd.DataFrame
    types: pd.Series
    source: str = "<DataFrame>"

    @property
    def properties(self) -> list[str]:
        return [str(c) for c in self.errors.columns]

    @property
    def model_ids(self) -> list[str]:
        return [str(i) for i in self.errors.index]

    @property
    def type_names(self) -> list[str]:
        return sorted(self.types.unique())

    def hyperparameters(self) -> pd.DataFrame:
        """Metadata columns that describe how a model was made (everything except ids); used to explain clusters."""
        return self.metadata.drop(columns=[c for c in ("status",) if c in self.metadata.columns])

    def subset(self, properties: list[str]) -> ErrorTable:
        return ErrorTable(self.errors[properties], self.metadata, self.types, self.source)


def load_error_table(
    path_or_df: str | Path | pd.DataFrame | ErrorTable,
    *,
    type_column: str = "family",
    metadata_columns: list[str] | None = None,
    id_column: str | None = None,
    values: str = "absolute",
) -> ErrorTable:
    """Read an error table from a CSV file or a DataFrame (e.g. :func:`wide_error_table`).

    The model id is the DataFrame index, or the CSV column ``id_column`` (default ``model_id``, or an unnamed first
    column). ``metadata_columns`` may hold shell-style globs (``hp_*``). ``values="log10"`` declares a table of
    log10 |error| (as some publications give them): they are turned back into errors, so thresholds and transforms
    mean the same as for any table. Raises :class:`InputError` naming the file and column for: a missing file, no
    model ids, duplicate model ids, a non-numeric value in an error column, no error columns at all, or no rows.
    """
    if isinstance(path_or_df, ErrorTable):
        return path_or_df
    if values not in ("absolute", "log10"):
        raise InputError(None, "table values", "'absolute' or 'log10'", got=values)
    if isinstance(path_or_df, pd.DataFrame):
        source = "<DataFrame>"
        frame = _frame_with_ids(path_or_df.copy(), source, id_column)
    else:
        frame, source = _read_csv(path_or_df, id_column)
    metadata_columns = _expand_globs(frame.columns, metadata_columns, source)
    meta_names = _metadata_names(frame.columns, type_column, metadata_columns)
    if len(frame) == 0:
        raise InputError(source, "rows", "at least one model (row)")
    error_names = [c for c in frame.columns if c not in meta_names]
    if not error_names:
        raise InputError(source, "error columns", "at least one numeric property-error column", got=list(frame.columns))
    errors = pd.DataFrame({c: _numeric_column(frame[c], source) for c in error_names}, index=frame.index)
    if values == "log10":
        errors = 10.0**errors
    errors = errors.replace([np.inf, -np.inf], np.nan)
    metadata = frame[[c for c in frame.columns if c in meta_names]].copy()
    for column in metadata.columns:
        metadata[column] = _maybe_numeric(metadata[column])
    if type_column in metadata.columns:
        types = metadata[type_column].astype(str).replace({"": DEFAULT_TYPE, "nan": DEFAULT_TYPE})
    else:
        types = pd.Series(DEFAULT_TYPE, index=frame.index)
    types.name = "type"
    return ErrorTable(errors=errors, metadata=metadata, types=types, source=source)


#: what :func:`wide_error_table` can tabulate
METRICS = ("absolute_error", "relative_error", "value")


def wide_error_table(
    records: pd.DataFrame,
    models: pd.DataFrame,
    metric: str = "absolute_error",
    include_failed_models: bool = False,
    include_hyperparameters: bool = False,
) -> pd.DataFrame:
    """Models x value names (index ``model_id``), leading columns ``family`` and ``training_set_name``, from a
    store's ``records()`` and ``models()`` (:class:`~mlipscope.store.protocol.ResultStore`).

    Rows, sorted by id: ok models with at least one stored evaluation (plus, with ``include_failed_models``, models
    whose fit failed, all NaN). Per (model, property label) the latest evaluation by ``created`` counts; NaN marks
    a failed or missing value. ``include_hyperparameters`` adds ``seed`` and ``hp.<name>`` columns after the two
    leading ones (what the analysis uses to explain clusters).
    """
    if metric not in METRICS:
        raise InputError(None, "metric", f"one of {list(METRICS)}", got=metric)
    evaluated = set(records["model_id"])
    chosen = ((models["status"] == "ok") & models["model_id"].isin(evaluated)) | (
        (models["status"] == "failed") & bool(include_failed_models)
    )
    rows = models[chosen].sort_values("model_id", kind="stable").reset_index(drop=True)
    if rows.empty:  # untyped, as a database reads no rows
        rows = rows.astype(object)
    # the latest evaluation of each (model, label): the last by created (stable: records come oldest first)
    order = records.sort_values("created", kind="stable")
    latest = order.drop_duplicates(["model_id", "property_label"], keep="last")[
        ["model_id", "property_label", "config_hash"]
    ]
    values = order[order["name"].notna()].merge(latest, on=["model_id", "property_label", "config_hash"])
    values = values[values["model_id"].isin(rows["model_id"])].drop_duplicates(["model_id", "name"])
    wide = values.pivot(index="model_id", columns="name", values=metric).astype(float)
    wide = wide.reindex(index=rows["model_id"], columns=sorted(wide.columns))
    wide.columns.name = None
    meta = rows.set_index("model_id")[["family", "training_set_name"]]
    if include_hyperparameters:
        meta = meta.assign(seed=_seed_column(rows.set_index("model_id")["seed"]))
        hps = pd.DataFrame([h if isinstance(h, dict) else {} for h in rows["hyperparameters"]], index=rows["model_id"])
        meta = meta.join(hps[sorted(hps.columns)].add_prefix(HYPERPARAMETER_PREFIX))
    table = meta.join(wide)
    table.index.name = "model_id"
    return table


def _seed_column(seeds: pd.Series) -> pd.Series:
    """Seeds as integers: nullable (``Int64``) only when one is missing, as a database column of these rows reads."""
    seeds = seeds.astype("Int64")
    return seeds if seeds.isna().any() else seeds.astype("int64")


def _read_csv(path: str | Path, id_column: str | None) -> tuple[pd.DataFrame, str]:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "error table", "an existing CSV file (one row per model)")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, "file contents", f"a comma-separated table with a header row ({exc})") from None
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    repeated = sorted({str(c) for c in header if header.count(c) > 1})
    if repeated:  # pandas would rename them "x.1": two columns for one property, silently
        raise InputError(path, "header", "each column name once", got=f"repeated: {repeated}")
    return _frame_with_ids(raw, str(path), id_column), str(path)


def split_threshold_row(
    table: ErrorTable, row: str, type_column: str | None = None
) -> tuple[ErrorTable, dict[str, float]]:
    """Take the row ``row`` (e.g. a "DFT" benchmark row of acceptable errors) out of the models: (the table without
    it, its finite |values| by property, in the table's error units — log10 tables already converted back).

    The row is found by its id, else by its value in ``type_column`` (a published table names its benchmark row in
    its type column, next to an unnamed running index); a type value on several rows is ambiguous, an error."""
    found = _threshold_row_id(table, row, type_column)
    values = table.errors.loc[found].abs()
    thresholds = {str(k): float(v) for k, v in values.items() if pd.notna(v) and math.isfinite(v) and v > 0}
    keep = table.errors.index != found
    rest = ErrorTable(table.errors[keep], table.metadata[keep], table.types[keep], table.source)
    return rest, thresholds


def _threshold_row_id(table: ErrorTable, row: str, type_column: str | None) -> str:
    """The id of the threshold row: ``row`` itself when it is an id, else the one row whose type value it is."""
    wanted = row.strip()
    if wanted in table.errors.index:
        return wanted
    searched = [f"the ids (first: {list(table.errors.index[:8])})"]
    if type_column is not None and type_column in table.metadata.columns:
        types = table.metadata[type_column].astype(str).str.strip()
        matches = list(types.index[types == wanted])
        if len(matches) == 1:
            return str(matches[0])
        if matches:
            raise InputError(
                table.source,
                "--threshold-row",
                f"a type value of one row; '{wanted}' is the {type_column!r} of rows {matches[:8]} (name one by id)",
                got=row,
            )
        searched.append(f"column {type_column!r} (values: {list(types.unique()[:8])})")
    raise InputError(
        table.source, "--threshold-row", f"the id or type value of a row, searched in {' and '.join(searched)}", got=row
    )


def _expand_globs(columns: pd.Index, patterns: list[str] | None, source: str) -> list[str]:
    """Metadata column names, with shell-style patterns matched against the table's columns."""
    import fnmatch

    names: list[str] = []
    for pattern in patterns or []:
        matched = [c for c in columns if fnmatch.fnmatchcase(str(c), pattern)]
        if not matched:
            raise InputError(source, f"metadata column {pattern!r}", "a column (or glob matching one) of the table")
        names += [c for c in matched if c not in names]
    return names


def _frame_with_ids(frame: pd.DataFrame, source: str, id_column: str | None = None) -> pd.DataFrame:
    """Move the model ids into a string index named ``model_id`` and check they are present and unique."""
    if id_column is not None:
        if id_column not in frame.columns:
            raise InputError(source, f"id column {id_column!r}", f"a column of the table {list(frame.columns)[:10]}")
        frame = frame.set_index(id_column)
    elif "model_id" in frame.columns:
        frame = frame.set_index("model_id")
    elif len(frame.columns) and (str(frame.columns[0]) == "" or str(frame.columns[0]).startswith("Unnamed: 0")):
        frame = frame.set_index(frame.columns[0])
    elif isinstance(frame.index, pd.RangeIndex) and source != "<DataFrame>":
        raise InputError(source, "model_id", "a 'model_id' column (one unique id per model)")
    ids = frame.index.astype(str)
    blank = [i for i, x in enumerate(ids) if x.strip() in ("", "nan")]
    if blank:
        raise InputError(source, "model_id", "a non-empty id on every row", got=f"empty id on data row {blank[0] + 1}")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise InputError(source, "model_id", "unique model ids", got=f"duplicates {list(duplicated[:5])}")
    frame.index = pd.Index(ids, name="model_id")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _metadata_names(columns: pd.Index, type_column: str, metadata_columns: list[str] | None) -> set[str]:
    names = set(metadata_columns or ()) | {type_column} | KNOWN_METADATA
    return {c for c in columns if c in names or c.startswith(HYPERPARAMETER_PREFIX)}


_MISSING = {"", "nan", "NaN", "NA", "N/A", "null", "None", "none"}


def _numeric_column(column: pd.Series, source: str) -> pd.Series:
    """Parse one error column; empty / NaN markers become NaN, anything else non-numeric is an InputError."""
    if pd.api.types.is_bool_dtype(column):
        raise InputError(source, f"column {column.name!r}", "numeric error values", got="booleans")
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(float)
    values = column.astype(str).str.strip()
    parsed = pd.to_numeric(values.where(~values.isin(_MISSING), "nan"), errors="coerce")
    bad = parsed.isna() & ~values.isin(_MISSING) & ~values.str.lower().isin({"nan", "inf", "-inf"})
    if bad.any():
        model = bad.idxmax()
        raise InputError(
            source,
            f"column {column.name!r}",
            "numeric error values (or empty for a failed evaluation); name it in metadata_columns or prefix it "
            f"'{HYPERPARAMETER_PREFIX}' if it is metadata",
            got=f"{values[model]!r} for model {model!r}",
        )
    return parsed.astype(float)


def _maybe_numeric(column: pd.Series) -> pd.Series:
    """Metadata stay strings unless every value parses as a number (hyperparameters are mostly numeric)."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    parsed = pd.to_numeric(column, errors="coerce")
    return parsed if parsed.notna().all() else column.astype(str)


def nan_fraction(errors: pd.DataFrame) -> pd.Series:
    """Share of models whose evaluation failed (NaN), per property."""
    return errors.isna().mean() if len(errors) else pd.Series(math.nan, index=errors.columns)
