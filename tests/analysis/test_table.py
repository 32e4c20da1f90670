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


# -- wide_error_table: the wide table from a store's records and models ----------------------------------------
def _errors(label: str, values: dict[str, tuple[float, float]], unit: str = "GPa") -> list:
    from mlipscope.properties.base import ErrorRecord

    return [ErrorRecord.compare(f"{label}.{k}", v, ref, unit, "test ref") for k, (v, ref) in values.items()]


def _filled_store(path):
    """Three fitted models (B's phonon evaluation failed), one failed fit, a potential with no seed, a model
    with no evaluation, and A's elastic constants evaluated again under a new config (the latest counts)."""
    from mlipscope.failures import FailureKind
    from mlipscope.store import ResultsStore

    store = ResultsStore(path)
    ids = {}
    for name, seed, shift in (("A", 0, 1.0), ("B", 1, 2.0), ("C", 2, 4.0)):
        ids[name] = store.register_model(
            "snap", {"twojmax": 6, "rcut": 4.0 + seed}, seed=seed, training_set_hash="h", training_set_name="si"
        )
        elastic = {"c11_gpa": (153.0 + shift, 153.0), "c44_gpa": (75.0 - shift, 75.0)}
        store.add_evaluation(ids[name], "elastic", "e1", _errors("elastic", elastic), wall_time_s=1.0)
        if name == "B":
            store.add_failed_evaluation(ids[name], "phonons", "p1", "imaginary modes", kind=FailureKind.NON_PHYSICAL)
        else:
            phonons = _errors("phonons", {"w_max_thz": (15.0 + shift, 15.0)}, "THz")
            store.add_evaluation(ids[name], "phonons", "p1", phonons, wall_time_s=2.0)
    ids["dead"] = store.register_model("pod", {"k": 1}, status="failed", reason="fit diverged")
    ids["sw"] = store.register_model("external", {"calculator": "sw"})
    store.add_evaluation(ids["sw"], "eos", "q", _errors("eos", {"b0_gpa": (101.0, 98.0)}), wall_time_s=0.1)
    ids["idle"] = store.register_model("gap", {"n": 2}, seed=7)
    store.add_evaluation(ids["A"], "elastic", "e2", _errors("elastic", {"c11_gpa": (160.0, 153.0)}), wall_time_s=1.0)
    return store, ids


ARGUMENTS = [
    (metric, failed, hps)
    for metric in ("absolute_error", "relative_error", "value")
    for failed in (False, True)
    for hps in (False, True)
]


@pytest.mark.parametrize(("metric", "include_failed", "include_hps"), ARGUMENTS)
def test_wide_error_table_is_the_table_sql_built(tmp_path, metric, include_failed, include_hps):
    """The same index, columns, order, values and dtypes as the store's SQL built it before the table moved here."""
    from mlipscope.analysis.table import wide_error_table
    from mlipscope.store.duckdb_reads import sql_error_table

    store, _ = _filled_store(tmp_path / "r.duckdb")
    with store:
        got = wide_error_table(store.records(), store.models(), metric, include_failed, include_hps)
        pd.testing.assert_frame_equal(got, sql_error_table(store, metric, include_failed, include_hps))


@pytest.mark.parametrize("include_hps", [False, True])
def test_wide_error_table_of_small_stores_is_the_table_sql_built(tmp_path, include_hps):
    from mlipscope.analysis.table import wide_error_table
    from mlipscope.failures import FailureKind
    from mlipscope.store import ResultsStore
    from mlipscope.store.duckdb_reads import sql_error_table

    with ResultsStore(tmp_path / "r.duckdb") as store:
        steps = [
            lambda: None,  # empty
            lambda: store.register_model("pod", {"k": 1}, status="failed", reason="fit diverged"),
            lambda: store.add_failed_evaluation(
                store.register_model("external", {"calculator": "x"}), "eos", "h", "boom", kind=FailureKind.ERROR
            ),
        ]
        for step in steps:
            step()
            for failed in (False, True):
                got = wide_error_table(store.records(), store.models(), "absolute_error", failed, include_hps)
                pd.testing.assert_frame_equal(got, sql_error_table(store, "absolute_error", failed, include_hps))


def test_wide_error_table_shape_and_values(tmp_path):
    from mlipscope.analysis.table import wide_error_table

    store, ids = _filled_store(tmp_path / "r.duckdb")
    with store:
        records, models = store.records(), store.models()
    table = wide_error_table(records, models)
    names = ["elastic.c11_gpa", "elastic.c44_gpa", "eos.b0_gpa", "phonons.w_max_thz"]
    assert list(table.columns) == ["family", "training_set_name", *names]
    assert list(table.index) == sorted([ids["A"], ids["B"], ids["C"], ids["sw"]]) and table.index.name == "model_id"
    assert table.loc[ids["C"], "elastic.c11_gpa"] == 4.0
    assert table.loc[ids["A"], "elastic.c11_gpa"] == 7.0  # the latest config of a property wins
    assert np.isnan(table.loc[ids["A"], "elastic.c44_gpa"])  # ... and did not compute this one
    assert np.isnan(table.loc[ids["B"], "phonons.w_max_thz"])  # a failed evaluation is NaN
    assert wide_error_table(records, models, "relative_error").loc[ids["B"], "elastic.c44_gpa"] == pytest.approx(
        2.0 / 75.0
    )
    assert wide_error_table(records, models, "value").loc[ids["C"], "elastic.c11_gpa"] == 157.0
    with_failed = wide_error_table(records, models, include_failed_models=True)
    assert ids["dead"] in with_failed.index and with_failed.loc[ids["dead"], names].isna().all()
    hp = wide_error_table(records, models, include_hyperparameters=True)
    assert list(hp.columns[:6]) == ["family", "training_set_name", "seed", "hp.calculator", "hp.rcut", "hp.twojmax"]
    assert hp.loc[ids["C"], "hp.rcut"] == 6.0 and hp.loc[ids["C"], "seed"] == 2 and pd.isna(hp.loc[ids["sw"], "seed"])
    with pytest.raises(InputError) as err:
        wide_error_table(records, models, "rmse")
    assert "metric" in str(err.value)


def test_repeated_column_names_in_a_csv_are_refused(tmp_path):
    """pandas renames a repeated column 'x.1': two columns of one property, silently; refused instead."""
    from mlipscope.analysis.table import load_error_table
    from mlipscope.errors import InputError

    path = tmp_path / "t.csv"
    path.write_text("model_id,eos.a,eos.a,elastic.c11\nm1,0.1,0.2,3\nm2,0.2,0.1,4\n")
    with pytest.raises(InputError, match="eos.a"):
        load_error_table(path)
