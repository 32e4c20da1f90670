"""Both store backends pass the shipped store conformance tests, and the analyses read the same answers from them:
``status`` and the wide error table of the same records are equal whichever store holds them."""

from __future__ import annotations

import pandas as pd
import pytest

from mlipscope.analysis.table import wide_error_table
from mlipscope.failures import FailureKind
from mlipscope.store.duckdb_store import ResultsStore
from mlipscope.store.memory import MemoryStore
from mlipscope.store.protocol import ModelRecord, ResultStore, Status
from mlipscope.store.status import compute_status, failures_table
from mlipscope.testing import StoreConformance
from mlipscope.testing.store import failed_record, ok_record


class TestDuckDBStoreConformance(StoreConformance):
    def make_store(self, path):
        return ResultsStore(path / "results.duckdb")

    def reopen(self, store, path):
        store.close()
        return ResultsStore(path / "results.duckdb")


class TestDuckDBStoreInABatchConformance(StoreConformance):
    """Inside a batch, writes are buffered: every read still sees them."""

    def make_store(self, path):
        store = ResultsStore(path / "results.duckdb")
        batch = store.batch()
        batch.__enter__()
        return store


class TestMemoryStoreConformance(StoreConformance):
    def make_store(self, path):
        return MemoryStore(path / "memory")


def _fill(store: ResultStore) -> None:
    """Models of every kind (fitted, external without seed, fit failed, never evaluated), ok and failed records
    (transient and deterministic, one tried twice), a config evaluated again, and a plan with unknown hashes."""
    models = [
        ModelRecord("snap-a", "snap", {"twojmax": 6, "rcut": 4.0}, seed=0, training_set_name="si"),
        ModelRecord("snap-b", "snap", {"twojmax": 8, "rcut": 5.0}, seed=1, training_set_name="si"),
        ModelRecord("external-sw", "external", {"calculator": "sw"}),
        ModelRecord("pod-dead", "pod", {"k": 1}, seed=2, status=Status.FAILED, reason="fit diverged (at fit.py:3)"),
        ModelRecord("gap-idle", "gap", {"n": 2}, seed=3),
    ]
    for model in models:
        store.put_model(model)
    store.put_records([ok_record("snap-a", "eos"), ok_record("snap-b", "eos", shift=2.0)])
    store.put_records([failed_record("snap-b", "elastic", FailureKind.TIMEOUT)])
    store.put_plan(
        [(m, label, None) for m in ("snap-a", "snap-b", "pod-dead", "gap-idle") for label in ("eos", "elastic")]
    )
    store.put_plan([("external-sw", "eos", "q"), ("external-sw", "phonons", "p")], append=True)
    store.set_meta("plan_name", "same answers")
    store.set_meta("plan_recorded_at", pd.Timestamp.now(tz="UTC").isoformat())
    store.set_meta("plan_max_attempts", "3")
    store.set_meta("plan_retry_failed", "false")
    store.put_records([ok_record("snap-a", "elastic", "e1", shift=1.0), ok_record("external-sw", "eos", "q")])
    store.put_records([failed_record("external-sw", "phonons", FailureKind.NON_PHYSICAL, "p")])
    store.put_records([ok_record("snap-a", "elastic", "e2", shift=3.0)])  # a new config: the latest counts
    store.put_records([failed_record("snap-b", "elastic", FailureKind.TIMEOUT)])  # tried twice


@pytest.fixture
def both(tmp_path):
    duck, memory = ResultsStore(tmp_path / "r.duckdb"), MemoryStore()
    for store in (duck, memory):
        _fill(store)
    yield duck, memory
    duck.close()


@pytest.mark.parametrize("metric", ["absolute_error", "value"])
@pytest.mark.parametrize("include_failed", [False, True])
@pytest.mark.parametrize("include_hps", [False, True])
def test_the_wide_table_is_the_same_from_either_store(both, metric, include_failed, include_hps):
    duck, memory = both
    tables = [wide_error_table(s.records(), s.models(), metric, include_failed, include_hps) for s in (duck, memory)]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert tables[0].loc["snap-a", "elastic.a"] == (13.0 if metric == "value" else 3.0)


def test_status_is_the_same_from_either_store(both):
    duck, memory = both
    statuses = [compute_status(s, source="db").as_dict() for s in (duck, memory)]
    for status in statuses:
        for clocked in ("rate_per_min", "eta_s", "plan_recorded_at"):
            status.pop(clocked)
    assert statuses[0] == statuses[1]
    assert statuses[0]["models"] == {"planned": 5, "ready": 4, "fit_failed": 1, "to_fit": 0}
    assert statuses[0]["evaluations"] == {
        "planned": 10, "done": 4, "failed": 2, "remaining": 2, "not_run_fit_failed": 2,
    }  # fmt: skip
    failures = [failures_table(s.records(), s.models()) for s in (duck, memory)]
    columns = ["model_id", "family", "property_label", "config_hash", "failure_kind", "reason", "attempts"]
    assert failures[0][columns].values.tolist() == failures[1][columns].values.tolist()
    assert failures[0]["attempts"].tolist() == [1, 2]  # phonons once, elastic twice (in creation order)


def test_status_without_a_plan_is_the_same_from_either_store(tmp_path):
    duck, memory = ResultsStore(tmp_path / "r.duckdb"), MemoryStore()
    with duck:
        for store in (duck, memory):
            store.put_model(ModelRecord("snap-a", "snap", {}, seed=0))
            store.put_model(ModelRecord("pod-dead", "pod", {}, status=Status.FAILED, reason="fit diverged"))
            store.put_records([ok_record("snap-a", "eos"), failed_record("snap-a", "elastic", FailureKind.CRASHED)])
        statuses = [compute_status(s, source="db").as_dict() for s in (duck, memory)]
    assert statuses[0] == statuses[1]
    assert statuses[0]["evaluations"] == {"stored": 2, "done": 1, "failed": 1}
    assert {r["stage"] for r in statuses[0]["failure_reasons"]} == {"elastic", "fit (pod)"}
