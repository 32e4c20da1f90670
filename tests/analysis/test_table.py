import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.table import load_error_table
from mlipscope.errors import InputError


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model_id": ["a", "b", "c"],
            "family": ["ace", "snap", "ace"],
            "training_set_name": ["orig", "orig", "vac"],
            "hp.cutoff_a": [4.5, 5.0, 5.5],
            "eos.a_error": [0.01, np.inf, 0.03],
            "elastic.c11_gpa": [1.0, 2.0, np.nan],
        }
    )


def test_dataframe_split_into_errors_metadata_and_types():
    table = load_error_table(_frame())
    assert table.properties == ["eos.a_error", "elastic.c11_gpa"]
    assert list(table.metadata.columns) == ["family", "training_set_name", "hp.cutoff_a"]
    assert table.model_ids == ["a", "b", "c"]
    assert table.types.tolist() == ["ace", "snap", "ace"]
    assert np.isnan(table.errors.loc["b", "eos.a_error"])  # an explosion (inf) is a failed evaluation
    assert table.metadata["hp.cutoff_a"].dtype.kind == "f"


def test_csv_round_trip_with_empty_cells(tmp_path):
    path = tmp_path / "errors.csv"
    _frame().to_csv(path, index=False)
    text = path.read_text().replace("inf", "")
    path.write_text(text)
    table = load_error_table(path)
    assert table.source == str(path)
    assert table.errors.shape == (3, 2)
    assert table.errors.isna().sum().sum() == 2
    assert table.errors.loc["c", "eos.a_error"] == pytest.approx(0.03)


def test_non_numeric_error_column_names_file_column_and_model(tmp_path):
    path = tmp_path / "bad.csv"
    frame = _frame().astype({"elastic.c11_gpa": object})
    frame.loc[1, "elastic.c11_gpa"] = "oops"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        load_error_table(path)
    message = str(info.value)
    assert str(path) in message and "elastic.c11_gpa" in message and "'oops'" in message and "'b'" in message
    # the same column is accepted once declared as metadata
    table = load_error_table(path, metadata_columns=["elastic.c11_gpa"])
    assert table.properties == ["eos.a_error"]


def test_duplicate_ids_and_missing_id_column(tmp_path):
    frame = _frame()
    frame.loc[2, "model_id"] = "a"
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="model_id.*unique model ids"):
        load_error_table(path)
    path2 = tmp_path / "noid.csv"
    _frame().drop(columns="model_id").to_csv(path2, index=False)
    with pytest.raises(InputError, match="noid.csv: field 'model_id'"):
        load_error_table(path2)


def test_unnamed_index_column_is_the_model_id(tmp_path):
    path = tmp_path / "indexed.csv"
    _frame().set_index("model_id").rename_axis(None).to_csv(path)
    assert load_error_table(path).model_ids == ["a", "b", "c"]


def test_no_error_columns_no_rows_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="error columns"):
        load_error_table(_frame()[["model_id", "family"]])
    with pytest.raises(InputError, match="at least one model"):
        load_error_table(_frame().iloc[:0])
    with pytest.raises(InputError, match="an existing CSV file"):
        load_error_table(tmp_path / "absent.csv")
    with pytest.raises(InputError, match="metadata column 'nope'"):
        load_error_table(_frame(), metadata_columns=["nope"])


def test_no_type_column_gives_one_type():
    table = load_error_table(_frame().drop(columns="family"))
    assert table.type_names == ["all"]
