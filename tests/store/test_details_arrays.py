"""Numpy arrays in details: kept in binary by the DuckDB store (dtype, shape and values exact), details of older
files (JSON only, no ``arrays`` column) read as before, and a writer leaves a fragmented file compacted."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pytest

from mlipscope.store import database_file
from mlipscope.store.database_file import SCHEMA_VERSION
from mlipscope.store.details_arrays import ARRAY_TAG, join_arrays, split_arrays
from mlipscope.store.duckdb_store import ResultsStore
from mlipscope.store.protocol import EvaluationKey, ModelRecord, Record, Status
from mlipscope.store.provenance import to_json

RNG = np.random.default_rng(0)
DETAILS = {
    "dataset": "si_mlearn_test",
    "frames": {
        "layout": "errors/2",
        "quanta": RNG.integers(-300, 300, 4575).astype(np.int16),
        "big": np.array([-(2**31), 2**31 - 1, -1, 0], dtype=np.int32),
        "energy": RNG.normal(size=25).astype(np.float32),
        "stress": np.full((3, 6), np.nan, dtype=np.float32),
        "small": np.array([3, 200], dtype=np.uint8),
        "empty": np.zeros(0, dtype=np.int16),
        "scalar": 0.5,
    },
    "nested": [{"x": np.arange(4, dtype=np.int32).reshape(2, 2), "half": np.array([0.5, -2.0], np.float16)}, "text"],
}
#: numpy's default dtypes stay JSON lists, as every property's details always were
WIDE = {"curve": np.array([1.0, np.nan]), "ids": np.arange(3), "mask": np.array([True, False])}


def _assert_same(got, expected) -> None:
    if isinstance(expected, np.ndarray) and expected.size:
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    elif isinstance(expected, np.ndarray):  # empty arrays are stored as JSON lists
        assert list(got) == []
    elif isinstance(expected, dict):
        assert set(got) == set(expected)
        for key in expected:
            _assert_same(got[key], expected[key])
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            _assert_same(a, b)
    else:
        assert got == expected


def test_split_and_join_round_trip_exactly():
    text_details, blob = split_arrays(DETAILS)
    text = to_json(text_details)
    assert ARRAY_TAG in text and len(text) < 1000  # the numbers are in the blob, not the JSON
    assert len(blob) < 0.8 * DETAILS["frames"]["quanta"].nbytes + 500  # small integers compress
    _assert_same(join_arrays(json.loads(text), blob), DETAILS)
    assert split_arrays({"a": [1.0, 2.0]}) == ({"a": [1.0, 2.0]}, None)  # nothing to pack: JSON as before
    text_details, blob = split_arrays(WIDE)
    assert blob is None and json.loads(to_json(text_details)) == {
        "curve": [1.0, None],
        "ids": [0, 1, 2],
        "mask": [True, False],
    }


def _put(store: ResultsStore, model: str, label: str, details: dict) -> EvaluationKey:
    store.put_model(ModelRecord(model, "snap"))
    key = EvaluationKey(model, label, "h")
    store.put_records([Record(key, Status.OK, details=details)])
    return key


def test_the_store_keeps_arrays_in_binary(tmp_path):
    path = tmp_path / "results.duckdb"
    with ResultsStore(path) as store:
        with store.batch():
            key = _put(store, "m1", "errors_test", DETAILS)
            _assert_same(store.evaluation_details(*key), DETAILS)  # from the buffer
        _assert_same(store.evaluation_details(*key), DETAILS)
    with ResultsStore(path, read_only=True) as store:
        _assert_same(store.details(["m1"])[key], DETAILS)
        stored_json = store._con.execute("SELECT details FROM evaluations").fetchall()[0][0]
    assert len(stored_json) < 1000


def _as_schema_2(path, old_details: dict) -> None:
    """A file as mlipscope wrote it before the arrays column: JSON details only (the old frame layout)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("ALTER TABLE evaluations DROP COLUMN arrays")
        con.execute("UPDATE evaluations SET details = ?", [json.dumps(old_details)])
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    finally:
        con.close()


def test_details_of_a_schema_2_file_read_as_before_and_after_migration(tmp_path):
    path = tmp_path / "old.duckdb"
    old = {"dataset": "si_mlearn_test", "frames": [{"index": 0, "n_atoms": 1, "forces_model_ev_a": [0.1, 0.2, 0.3]}]}
    with ResultsStore(path) as store:
        key = _put(store, "m1", "errors_test", {"x": 1})
    _as_schema_2(path, old)
    with ResultsStore(path, read_only=True) as store:  # nothing written, no column: NULL arrays
        assert store.details(["m1"])[key] == old and store.evaluation_details(*key) == old
    with ResultsStore(path) as store:  # opened for writing: migrated, old details unchanged, new ones binary
        assert store.get_meta("schema_version") == SCHEMA_VERSION == "3"
        assert store.details(["m1"])[key] == old
        new_key = _put(store, "m2", "errors_test", DETAILS)
        _assert_same(store.details(["m2"])[new_key], DETAILS)


def _fragmented(path, n_batches: int = 12) -> dict:
    """A store written in batches with a checkpoint after each (what a run's published snapshots do)."""
    written = {}
    with ResultsStore(path) as store:
        for b in range(n_batches):
            with store.batch():
                for m in range(20):
                    model = f"m{b}-{m}"
                    details = {"frames": {"quanta": RNG.normal(0, 1e4, 5000).astype(np.int32)}}
                    written[_put(store, model, "errors_test", details)] = details
            store._con.execute("CHECKPOINT")
        block, used, free = store._con.execute(
            "SELECT block_size, used_blocks, free_blocks FROM pragma_database_size()"
        ).fetchall()[0]
        assert free >= used / 2  # the checkpoints rewrote the table and left its old blocks free
    return written


def test_a_fragmented_file_is_compacted_on_close(tmp_path, monkeypatch):
    path = tmp_path / "results.duckdb"
    monkeypatch.setattr(database_file, "COMPACT_MIN_FREE_BYTES", 10**12)
    written = _fragmented(path)
    before = path.stat().st_size
    path.unlink()
    monkeypatch.setattr(database_file, "COMPACT_MIN_FREE_BYTES", 0)
    assert _fragmented(path).keys() == written.keys()
    after = path.stat().st_size
    assert after < 0.75 * before
    assert not list(tmp_path.glob("*.compact-*"))
    with ResultsStore(path, read_only=True) as store:
        free = store._con.execute("SELECT free_blocks FROM pragma_database_size()").fetchall()[0][0]
        stored = store.details(sorted({k.model_id for k in written}))
        assert free == 0 and len(stored) == len(written) and store.get_meta("schema_version") == SCHEMA_VERSION
        assert len(store.records()) == len(written)
    duplicate = (
        "INSERT INTO evaluations (model_id, property_label, config_hash, status) "
        "SELECT model_id, property_label, config_hash, status FROM evaluations LIMIT 1"
    )
    with ResultsStore(path) as store, pytest.raises(duckdb.ConstraintException):  # its primary key kept
        store._con.execute(duplicate)


def test_a_file_open_elsewhere_is_not_replaced(tmp_path, monkeypatch):
    path = tmp_path / "results.duckdb"
    monkeypatch.setattr(database_file, "COMPACT_MIN_FREE_BYTES", 0)
    other = None
    original_close = ResultsStore.close

    def close_with_a_second_connection(self):
        nonlocal other
        if other is None and self._con is not None:
            other = duckdb.connect(str(self.path))  # this process: shares the open database
        original_close(self)

    monkeypatch.setattr(ResultsStore, "close", close_with_a_second_connection)
    _fragmented(path, n_batches=6)
    free = other.execute("SELECT free_blocks FROM pragma_database_size()").fetchall()[0][0]
    assert free > 0  # not compacted: replacing the file would cut the other connection off
    other.close()
    assert not list(tmp_path.glob("*.compact-*"))
