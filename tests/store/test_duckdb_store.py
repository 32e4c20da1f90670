"""ResultsStore: round trips, upserts, resume, failures and the wide error table (read back from disk)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.table import wide_error_table
from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord
from mlipscope.store import ResultsStore, model_id_for


def _wide(store, *args, **kwargs) -> pd.DataFrame:
    return wide_error_table(store.records(), store.models(), *args, **kwargs)


def _records(label: str, values: dict[str, tuple[float, float]], unit: str = "GPa") -> list[ErrorRecord]:
    return [ErrorRecord.compare(f"{label}.{k}", v, ref, unit, "test ref") for k, (v, ref) in values.items()]


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "results.duckdb") as s:
        yield s


def test_register_get_upsert_and_update(store):
    mid = store.register_model(
        "snap", {"twojmax": 6}, seed=3, training_set_hash="h1", training_set_name="si", fit_wall_time_s=12.5
    )
    assert mid == model_id_for("snap", {"twojmax": 6}, 3, "h1")
    row = store.get_model(mid)
    assert row["hyperparameters"] == {"twojmax": 6} and row["seed"] == 3 and row["fit_wall_time_s"] == 12.5
    assert row["status"] == "ok" and math.isnan(row["eval_cost_s_per_atom_step"])
    created = row["created"]

    store.register_model("snap", {"twojmax": 6}, seed=3, training_set_hash="h1", status="failed", reason="boom")
    assert len(store.models()) == 1
    row = store.get_model(mid)
    assert (row["status"], row["reason"], row["created"]) == ("failed", "boom", created)

    store.update_model(mid, status="ok", reason="", eval_cost_s_per_atom_step=2e-6, path=store.path.parent)
    row = store.get_model(mid)
    assert (row["status"], row["eval_cost_s_per_atom_step"], row["path"]) == (
        "ok",
        2e-6,
        str(store.path.parent),
    )
    assert store.get_model("snap-000000000000") is None
    with pytest.raises(InputError):
        store.update_model(mid, colour="red")
    with pytest.raises(InputError):
        store.update_model("snap-000000000000", status="ok")
    with pytest.raises(InputError):
        store.register_model("snap", {}, status="maybe")


def test_add_dataset_once_per_content(store):
    from mlipscope.data.examples import load_example

    data = load_example("si_mlearn_test")
    assert store.add_dataset(data) == data.content_hash
    assert store.add_dataset(data.select(range(len(data)), name="copy")) == data.content_hash
    table = store.datasets()
    assert table["hash"].tolist() == [data.content_hash]
    assert (table["n_frames"][0], table["n_atoms"][0], table["name"][0]) == (
        25,
        data.n_atoms,
        "si_mlearn_test",
    )


def test_evaluations_survive_reopening_and_are_replaced(tmp_path):
    path = tmp_path / "r.duckdb"
    with ResultsStore(path) as store:
        mid = store.register_model("external", {"calculator": "sw"})
        store.add_evaluation(
            mid,
            "elastic",
            "cfg1",
            _records("elastic", {"c11_gpa": (150.0, 153.0), "c12_gpa": (60.0, 57.0)}),
            wall_time_s=1.5,
            details={"curve": np.array([1.0, np.nan]), "n": np.int64(3)},
            software_versions={"ase": "x"},
        )
        with pytest.raises(InputError):
            store.add_evaluation("nobody", "elastic", "cfg1", [], wall_time_s=0.0)
    with ResultsStore(path) as store:  # what a restarted run sees
        assert store.has_evaluation(mid, "elastic", "cfg1")
        assert not store.has_evaluation(mid, "elastic", "cfg2")
        assert store.done_evaluations() == {(mid, "elastic", "cfg1")}
        assert store.evaluation_details(mid, "elastic", "cfg1") == {"curve": [1.0, None], "n": 3}
        rows = store.evaluations()
        assert rows["name"].tolist() == ["elastic.c11_gpa", "elastic.c12_gpa"]
        assert rows["absolute_error"].tolist() == [3.0, 3.0]
        assert rows["relative_error"].tolist() == pytest.approx([3 / 153, 3 / 57])
        store.add_evaluation(mid, "elastic", "cfg1", _records("elastic", {"c11_gpa": (151.0, 153.0)}), wall_time_s=1.0)
        rows = store.evaluations()
        assert rows["name"].tolist() == ["elastic.c11_gpa"] and rows["value"].tolist() == [151.0]


def test_failed_evaluation_is_stored_with_reason(store):
    mid = store.register_model("external", {"calculator": "lj"})
    store.add_evaluation(mid, "eos", "c", _records("eos", {"b0_gpa": (90.0, 98.0)}), wall_time_s=0.1)
    store.add_failed_evaluation(
        mid, "eos", "c", "exploded: max force 1e4 eV/Å", kind=FailureKind.NON_PHYSICAL, wall_time_s=2.0
    )
    assert store.has_evaluation(mid, "eos", "c")
    assert not store.has_evaluation(mid, "eos", "c", retry_failed=True)
    assert store.done_evaluations(retry_failed=True) == set()
    failures = store.failures()
    assert failures[["model_id", "property_label", "reason"]].values.tolist() == [
        [mid, "eos", "exploded: max force 1e4 eV/Å"]
    ]
    rows = store.evaluations()
    assert len(rows) == 1 and rows["status"][0] == "failed" and pd.isna(rows["value"][0])
    table = _wide(store)  # the model is a row; nothing else was computed, so no value columns
    assert list(table.index) == [mid] and list(table.columns) == ["family", "training_set_name"]


@pytest.fixture
def filled(store):
    """Three fitted models, one failed fit; model B's phonon evaluation failed."""
    ids = {}
    for name, seed, shift in (("A", 0, 1.0), ("B", 1, 2.0), ("C", 2, 4.0)):
        ids[name] = store.register_model(
            "snap",
            {"twojmax": 6, "rcut": 4.0 + seed},
            seed=seed,
            training_set_hash="h",
            training_set_name="si",
        )
        store.add_evaluation(
            ids[name],
            "elastic",
            "e1",
            _records("elastic", {"c11_gpa": (153.0 + shift, 153.0), "c44_gpa": (75.0 - shift, 75.0)}),
            wall_time_s=1.0,
        )
        if name == "B":
            store.add_failed_evaluation(ids[name], "phonons", "p1", "imaginary modes", kind=FailureKind.NON_PHYSICAL)
        else:
            store.add_evaluation(
                ids[name], "phonons", "p1", _records("phonons", {"w_max_thz": (15.0 + shift, 15.0)}, "THz"),
                wall_time_s=2.0,
            )  # fmt: skip
    ids["dead"] = store.register_model("pod", {"k": 1}, status="failed", reason="fit diverged")
    return store, ids


def test_one_models_rows_without_pandas_equal_the_long_table(filled):
    store, ids = filled
    rows = store.evaluation_rows(ids["B"], ["e1", "p1"])
    frame = store.evaluations()
    frame = frame[frame["model_id"] == ids["B"]]
    assert [(r["property_label"], r["status"], r["name"], r["value"]) for r in rows] == [
        ("elastic", "ok", "elastic.c11_gpa", 155.0), ("elastic", "ok", "elastic.c44_gpa", 73.0),
        ("phonons", "failed", None, None)]  # fmt: skip
    assert [r["name"] for r in rows] == [None if pd.isna(n) else n for n in frame["name"]]
    assert rows[-1]["reason"] == "imaginary modes"
    assert isinstance(rows[0]["created"], int)  # milliseconds since the epoch, as in pandas' JSON
    assert store.evaluation_rows(ids["B"], ["e1"]) == rows[:2]  # only the given configurations
    assert store.evaluation_rows(ids["A"], []) == []


def test_error_table_shape_and_values(filled):
    store, ids = filled
    table = _wide(store)
    names = ["elastic.c11_gpa", "elastic.c44_gpa", "phonons.w_max_thz"]
    assert list(table.columns) == ["family", "training_set_name", *names]
    assert table.index.name == "model_id" and sorted(table.index) == sorted([ids["A"], ids["B"], ids["C"]])
    assert table.loc[ids["C"], "elastic.c11_gpa"] == 4.0
    assert table.loc[ids["A"], "phonons.w_max_thz"] == 1.0
    assert math.isnan(table.loc[ids["B"], "phonons.w_max_thz"])  # failed evaluation -> NaN
    assert (table["family"] == "snap").all()
    rel = _wide(store, "relative_error")
    assert rel.loc[ids["B"], "elastic.c44_gpa"] == pytest.approx(2.0 / 75.0)
    assert _wide(store, "value").loc[ids["A"], "elastic.c11_gpa"] == 154.0

    with_failed = _wide(store, include_failed_models=True)
    assert with_failed.shape == (4, 5) and with_failed.loc[ids["dead"], names].isna().all()
    hp = _wide(store, include_hyperparameters=True)
    assert list(hp.columns[:5]) == ["family", "training_set_name", "seed", "hp.rcut", "hp.twojmax"]
    assert hp.loc[ids["C"], "hp.rcut"] == 6.0 and hp.loc[ids["C"], "seed"] == 2
    with pytest.raises(InputError):
        _wide(store, "rmse")


def test_latest_config_of_a_property_wins(filled):
    store, ids = filled
    store.add_evaluation(ids["A"], "elastic", "e2", _records("elastic", {"c11_gpa": (160.0, 153.0)}), wall_time_s=1.0)
    table = _wide(store)
    assert table.loc[ids["A"], "elastic.c11_gpa"] == 7.0
    assert math.isnan(table.loc[ids["A"], "elastic.c44_gpa"])  # the newer config did not compute it


def test_empty_store_gives_empty_table(store):
    table = _wide(store)
    assert list(table.columns) == ["family", "training_set_name"] and len(table) == 0


def test_not_a_database_is_an_input_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("hello, not a database\n" * 100)
    with pytest.raises(InputError) as err:
        ResultsStore(path)
    assert str(path) in str(err.value)
    with pytest.raises(InputError):
        ResultsStore(tmp_path / "missing.duckdb", read_only=True)


def test_details_of_many_models_in_one_read(tmp_path):
    with ResultsStore(tmp_path / "r.duckdb") as store:
        ids = [store.register_model("external", {"calculator": name}) for name in ("sw", "tersoff", "other")]
        for i, mid in enumerate(ids):
            for label in ("eos", "elastic"):
                store.add_evaluation(mid, label, "h", [], wall_time_s=0.0, details={"model": i, "label": label})
        got = store.details_of_models(ids[:2])
        assert got == {
            (mid, label, "h"): {"model": i, "label": label}
            for i, mid in enumerate(ids[:2])
            for label in ("eos", "elastic")
        }
        assert got[(ids[0], "eos", "h")] == store.evaluation_details(ids[0], "eos", "h")
        assert store.details_of_models([]) == {}
