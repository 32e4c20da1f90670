"""Numpy arrays in details: kept in binary by the DuckDB store (dtype, shape and values exact), one zlib stream per
byte plane (schema 3's single stream read too), arrays many evaluations hold kept once (schema 4), details of older
files (JSON only, no ``arrays`` column; no shared arrays) read as before, and a writer leaves a fragmented file
compacted."""

from __future__ import annotations

import json
import zlib

import duckdb
import numpy as np
import pytest

from mlipscope.store import database_file
from mlipscope.store.database_file import SCHEMA_VERSION
from mlipscope.store.details_arrays import ARRAY_TAG, SHARED_MIN_BYTES, SharedArrays, join_arrays, split_arrays
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
        con.execute("DROP TABLE shared_arrays")
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
        assert store.get_meta("schema_version") == SCHEMA_VERSION == "4"
        assert store.details(["m1"])[key] == old
        new_key = _put(store, "m2", "errors_test", DETAILS)
        again = _put(store, "m3", "errors_test", DETAILS)  # the same arrays again: in the new table
        _assert_same(store.details(["m2"])[new_key], DETAILS)
        _assert_same(store.details(["m3"])[again], DETAILS)
        assert store._con.execute("SELECT count(*) FROM shared_arrays").fetchall()[0][0] > 0


def _schema_3_payload(array: np.ndarray) -> bytes:
    """An int16 array packed as schema 3 stored it, written out by hand: zigzag, byte-shuffled, one zlib stream."""
    wide = array.astype(np.int64)
    zigzag = ((wide << 1) ^ (wide >> 63)).astype("<u2")
    return zlib.compress(zigzag.view(np.uint8).reshape(-1, 2).T.tobytes(), 6)


def test_byte_planes_are_compressed_apart_and_schema_3_payloads_read():
    quanta = np.rint(RNG.standard_t(3, 4575) * 100).astype(np.int16)  # heavy-tailed force errors of ~0.1 eV/Å
    old = _schema_3_payload(quanta)
    np.testing.assert_array_equal(join_arrays({"q": {ARRAY_TAG: ["<i2", [4575], 0, len(old)]}}, old)["q"], quanta)
    text_details, blob = split_arrays({"q": quanta})
    assert len(blob) < 0.97 * len(old)  # the high bytes' own Huffman table
    stream = zlib.decompressobj()  # the first stream is the low bytes only
    assert len(stream.decompress(blob)) == quanta.size and stream.unused_data
    _assert_same(join_arrays(text_details, blob), {"q": quanta})
    with pytest.raises(ValueError, match="ends after 4575 of its 9150 bytes"):  # a lost plane: an error, not zeros
        join_arrays(text_details, blob[: len(blob) - len(stream.unused_data)])


#: what every member's details of one dataset share (frame indices, stored atoms) beside its own errors
INDEX = np.arange(100, dtype=np.int16)
STORED_ATOMS = RNG.integers(0, 64, 330).astype(np.int16)
N_ATOMS = np.full(100, 64, dtype=np.int16)  # packs to fewer than SHARED_MIN_BYTES: stays in the rows


def _member_details() -> dict:
    errors = RNG.integers(-300, 300, 990).astype(np.int16)
    return {"frames": {"index": INDEX, "n_atoms": N_ATOMS, "stored_atoms": STORED_ATOMS, "quanta": errors}}


def _packed_bytes(*arrays: np.ndarray) -> int:
    return sum(len(split_arrays(a)[1]) for a in arrays)


def test_arrays_many_evaluations_hold_are_stored_once(tmp_path):
    assert _packed_bytes(N_ATOMS) < SHARED_MIN_BYTES <= min(_packed_bytes(INDEX), _packed_bytes(STORED_ATOMS))
    path = tmp_path / "results.duckdb"
    written = {}
    with ResultsStore(path) as store:
        with store.batch():
            for m in range(30):
                details = _member_details()
                written[_put(store, f"m{m}", "re_vacancy", details)] = details
            last = EvaluationKey("m29", "re_vacancy", "h")
            _assert_same(store.evaluation_details(*last), written[last])  # from the buffer, with the pending arrays
        for m in range(30, 33):  # one by one: they refer to the stored arrays too
            details = _member_details()
            written[_put(store, f"m{m}", "re_vacancy", details)] = details
    with ResultsStore(path, read_only=True) as store:
        stored = store.details([k.model_id for k in written])
        for key, details in written.items():
            _assert_same(stored[key], details)
        shared = dict(store._con.execute("SELECT hash, payload FROM shared_arrays").fetchall())
        blobs = dict(store._con.execute("SELECT model_id, octet_length(arrays) FROM evaluations").fetchall())
    assert sorted(len(p) for p in shared.values()) == sorted([_packed_bytes(INDEX), _packed_bytes(STORED_ATOMS)])
    for key, details in written.items():  # the first member keeps its copy, the others only their own arrays
        own = [details["frames"]["quanta"], N_ATOMS] + ([INDEX, STORED_ATOMS] if key.model_id == "m0" else [])
        assert blobs[key.model_id] == _packed_bytes(*own)


def test_a_shared_array_under_another_ones_hash_stays_in_its_row():
    payload = split_arrays(INDEX)[1]
    shared = SharedArrays()
    assert shared.key_for(payload) is None and not shared.pending  # the first time: kept in its row, remembered
    key = shared.key_for(payload)
    assert key is not None and shared.pending == {key: payload}
    forged = SharedArrays({key: payload[::-1]})
    assert forged.key_for(payload) is None
    small_memory, other = SharedArrays(recent=1), split_arrays(STORED_ATOMS)[1]
    assert [small_memory.key_for(p) for p in (payload, other, payload)] == [None, None, None]  # forgotten between


def test_a_failed_write_drops_the_shared_arrays_its_rows_introduced(tmp_path, monkeypatch):
    path = tmp_path / "results.duckdb"
    with ResultsStore(path) as store:

        def fail(*args):
            raise OSError("disk full")

        monkeypatch.setattr(ResultsStore, "_write_many", fail)
        with pytest.raises(OSError), store.batch():
            for m in range(3):
                _put(store, f"m{m}", "re_vacancy", _member_details())
        assert not store._shared_arrays().pending and not store._shared_arrays().stored
        monkeypatch.undo()
        with store.batch():
            kept = {_put(store, f"m{m}", "re_vacancy", d): d for m, d in ((m, _member_details()) for m in range(3))}
        stored = store.details([k.model_id for k in kept])
        assert store._con.execute("SELECT count(*) FROM shared_arrays").fetchall()[0][0] == 2
    for key, details in kept.items():
        _assert_same(stored[key], details)


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


def test_the_default_thresholds_compact_a_few_free_megabytes(tmp_path):
    path = tmp_path / "results.duckdb"
    _fragmented(path, n_batches=16)
    with ResultsStore(path, read_only=True) as store:
        free = store._con.execute("SELECT free_blocks FROM pragma_database_size()").fetchall()[0][0]
    assert free == 0  # the 4 MB of free blocks were left before (compaction needed 16 MiB and half the file free)
