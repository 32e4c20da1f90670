"""Failure kinds have their own column: the store decides retries by the kind, never by the reason text; a schema-1
database (kinds only in the reasons) is migrated when opened for writing and read on the fly when opened read-only;
an unknown schema version is refused before anything is written."""

from __future__ import annotations

import duckdb
import pytest

from mlipscope.errors import InputError
from mlipscope.failures import FailureKind, kind_of_exception, kind_of_legacy_reason
from mlipscope.store import ResultsStore
from mlipscope.store.duckdb_store import SCHEMA_VERSION
from mlipscope.store.status import compute_status


def _store_two_failures(path) -> str:
    with ResultsStore(path) as store:
        mid = store.register_model("external", {"calculator": "sw"})
        # the reason says "timeout", the kind says non-physical: the kind decides
        store.add_failed_evaluation(mid, "eos", "h", "timeout: just words", kind=FailureKind.NON_PHYSICAL)
        store.add_failed_evaluation(mid, "elastic", "h", "boom", kind=FailureKind.TIMEOUT)
    return mid


def test_retries_follow_the_stored_kind_not_the_reason(tmp_path):
    mid = _store_two_failures(tmp_path / "r.duckdb")
    with ResultsStore(tmp_path / "r.duckdb") as store:
        assert not store.needs_evaluation(mid, "eos", "h")
        assert store.needs_evaluation(mid, "elastic", "h", max_attempts=2)
        assert not store.needs_evaluation(mid, "elastic", "h", max_attempts=1)
        kinds = dict(zip(store.failures()["property_label"], store.failures()["failure_kind"], strict=True))
        assert kinds == {"eos": "non_physical", "elastic": "timeout"}
        with pytest.raises(TypeError, match="FailureKind"):
            store.add_failed_evaluation(mid, "vacancy", "h", "timeout", kind="timeout")


def test_every_kind_has_a_group():
    assert {k.group for k in FailureKind} == {"transient", "deterministic"}
    assert [k for k in FailureKind if k.transient] == [
        FailureKind.TIMEOUT,
        FailureKind.CRASHED,
        FailureKind.WORKER_LOST,
        FailureKind.MISSING_MODULE,
    ]
    assert kind_of_exception(ModuleNotFoundError("mace")) is FailureKind.MISSING_MODULE
    assert kind_of_exception(ValueError("x")) is FailureKind.ERROR


def _as_schema_1(path) -> None:
    """Turn a database into what mlipscope wrote before the kind column existed."""
    con = duckdb.connect(str(path))
    try:
        con.execute("ALTER TABLE evaluations DROP COLUMN failure_kind")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    finally:
        con.close()


def test_a_schema_1_database_is_read_then_migrated(tmp_path):
    path = tmp_path / "old.duckdb"
    with ResultsStore(path) as store:
        mid = store.register_model("external", {"calculator": "sw"})
        store.add_failed_evaluation(mid, "eos", "h", "crashed (signal 11)", kind=FailureKind.CRASHED)
        store.add_failed_evaluation(mid, "elastic", "h", "non-physical: exploded", kind=FailureKind.NON_PHYSICAL)
        store.add_failed_evaluation(
            mid, "vacancy", "h", "model load failed: ModuleNotFoundError: x", kind=FailureKind.MISSING_MODULE
        )
    _as_schema_1(path)
    expected = {"eos": "crashed", "elastic": "non_physical", "vacancy": "missing_module"}
    # read-only: nothing written, the kinds read from the reasons
    with ResultsStore(path, read_only=True) as store:
        failures = store.failures()
        assert dict(zip(failures["property_label"], failures["failure_kind"], strict=True)) == expected
        status = compute_status(store, source=path)
        assert {r["stage"]: r["kind"] for r in status.failure_reasons} == {
            "eos": "transient",
            "elastic": "deterministic",
            "vacancy": "transient",
        }
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
    con.close()
    # opened for writing: migrated once, the kinds now in their column
    with ResultsStore(path) as store:
        assert store.needs_evaluation(mid, "eos", "h") and not store.needs_evaluation(mid, "elastic", "h")
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == SCHEMA_VERSION
        rows = dict(con.execute("SELECT property_label, failure_kind FROM evaluations").fetchall())
        assert rows == expected
    finally:
        con.close()


def test_an_unknown_schema_version_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / "future.duckdb"
    _store_two_failures(path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    before = path.read_bytes()
    for read_only in (True, False):
        with pytest.raises(InputError, match=r"schema_version.*a newer mlipscope wrote this file.*'99'"):
            ResultsStore(path, read_only=read_only)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("timeout: exceeded the per-task limit of 5 s", FailureKind.TIMEOUT),
        ("worker lost: CommClosedError: in <TCP>: Stream is closed", FailureKind.WORKER_LOST),
        ("model load failed: OSError: no such file", FailureKind.MODEL_LOAD),
        ("ValueError: bad shape (at eos.py:3)", FailureKind.ERROR),
    ],
)
def test_legacy_reasons(reason, kind):
    assert kind_of_legacy_reason(reason) is kind
