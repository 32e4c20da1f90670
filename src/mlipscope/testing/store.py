"""Conformance tests for a results store backend, shipped with the package: what the engine, ``mlipscope status``,
``export`` and the report rely on of a :class:`~mlipscope.store.protocol.ResultStore`.

Subclass :class:`StoreConformance` in a test module with a factory of empty stores (and, for a backend whose
contents outlive the object, one that opens the same store again)::

    from mlipscope.testing import StoreConformance

    class TestMyStoreConformance(StoreConformance):
        def make_store(self, path):
            return MyStore(path / "results")

        def reopen(self, store, path):  # leave out for an in-memory backend
            store.close()
            return MyStore(path / "results")

It checks: the store is a ``ResultStore``; models round trip and a replaced one keeps its creation time; records
replace the one stored under their key and count attempts, and a record of an unknown model is refused; stored
states of some, all and absent keys; the long records table (columns, one row per value, oldest first); details
by model; the run plan (replace, append, unknown config hashes); meta entries; and, with :meth:`reopen`, that all
of it is still there after the store is closed and opened again.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord
from mlipscope.store.protocol import (
    PLAN_COLUMNS,
    RECORD_COLUMNS,
    EvaluationKey,
    ModelRecord,
    Record,
    ResultStore,
    Status,
    needs_evaluation,
)

MODEL_A = ModelRecord("snap-aaaaaaaaaaaa", "snap", {"twojmax": 6, "rcut": 4.5}, seed=1, training_set_name="si")
MODEL_B = ModelRecord("external-bbbbbbbbbbbb", "external", {"calculator": "sw"}, path="sw")


def ok_record(model_id: str, label: str, config_hash: str = "h", shift: float = 0.0) -> Record:
    """An ok record with two values (``label``.a, ``label``.b) and details."""
    values = tuple(ErrorRecord.compare(f"{label}.{n}", 10.0 + i + shift, 10.0, "eV") for i, n in enumerate("ab"))
    return Record(EvaluationKey(model_id, label, config_hash), Status.OK, values, wall_time_s=1.5, details={"n": 2})


def failed_record(model_id: str, label: str, kind: FailureKind, config_hash: str = "h") -> Record:
    key = EvaluationKey(model_id, label, config_hash)
    return Record(key, Status.FAILED, failure_kind=kind, reason=f"{kind.value} happened", details={"partial": 1})


class StoreConformance:
    """Subclass with :meth:`make_store` (and :meth:`reopen` for a durable backend)."""

    def make_store(self, path: Path) -> ResultStore:
        """A new, empty store; ``path``: a fresh folder the store may use."""
        raise NotImplementedError

    def reopen(self, store: ResultStore, path: Path) -> ResultStore | None:
        """Close ``store`` and open the same store again (None: the backend does not outlive its object)."""
        return None

    @pytest.fixture
    def store(self, tmp_path):
        store = self.make_store(tmp_path)
        yield store
        store.close()

    def test_is_a_result_store(self, store):
        assert isinstance(store, ResultStore)
        assert isinstance(store.path, Path)

    def test_models_round_trip_and_a_replaced_one_keeps_its_creation_time(self, store):
        assert len(store.models()) == 0
        store.put_model(MODEL_A)
        store.put_model(MODEL_B)
        models = store.models().set_index("model_id")
        assert {"created", *(f for f in MODEL_A.__dataclass_fields__ if f != "model_id")} <= set(models.columns)
        assert models.loc[MODEL_A.model_id, "hyperparameters"] == {"twojmax": 6, "rcut": 4.5}
        assert models.loc[MODEL_A.model_id, "seed"] == 1 and pd.isna(models.loc[MODEL_B.model_id, "seed"])
        assert models.loc[MODEL_B.model_id, "path"] == "sw" and models.loc[MODEL_A.model_id, "status"] == "ok"
        created = models.loc[MODEL_A.model_id, "created"]
        store.put_model(ModelRecord(MODEL_A.model_id, "snap", {"twojmax": 6}, status=Status.FAILED, reason="boom"))
        models = store.models().set_index("model_id")
        assert len(models) == 2 and models.loc[MODEL_A.model_id, "created"] == created
        assert (models.loc[MODEL_A.model_id, "status"], models.loc[MODEL_A.model_id, "reason"]) == ("failed", "boom")

    def test_records_replace_the_stored_one_and_count_attempts(self, store):
        store.put_model(MODEL_A)
        key = EvaluationKey(MODEL_A.model_id, "eos", "h")
        assert store.put_records([failed_record(MODEL_A.model_id, "eos", FailureKind.TIMEOUT)]) == 1
        assert store.stored_states([key])[key].attempts == 1
        store.put_records([ok_record(MODEL_A.model_id, "eos")])
        state = store.stored_states([key])[key]
        assert (state.status, state.failure_kind, state.attempts) == (Status.OK, None, 2)
        rows = store.records()
        assert len(rows) == 2 and set(rows["status"]) == {"ok"} and rows["attempts"].tolist() == [2, 2]
        # stored twice in one call: both attempts count, the last one stays
        store.put_records(
            [ok_record(MODEL_A.model_id, "eos"), failed_record(MODEL_A.model_id, "eos", FailureKind.ERROR)]
        )
        state = store.stored_states([key])[key]
        assert (state.status, state.failure_kind, state.attempts) == (Status.FAILED, FailureKind.ERROR, 4)
        assert len(store.records()) == 1  # the failed record has no values: one row with null values

    def test_a_record_of_an_unknown_model_is_refused(self, store):
        with pytest.raises(InputError):
            store.put_records([ok_record("nobody-000000000000", "eos")])

    def test_stored_states_of_some_all_and_absent_keys(self, store):
        store.put_model(MODEL_A)
        store.put_records(
            [ok_record(MODEL_A.model_id, "eos"), failed_record(MODEL_A.model_id, "elastic", FailureKind.NON_PHYSICAL)]
        )
        eos, elastic = EvaluationKey(MODEL_A.model_id, "eos", "h"), EvaluationKey(MODEL_A.model_id, "elastic", "h")
        absent = EvaluationKey(MODEL_A.model_id, "eos", "other")
        assert set(store.stored_states()) == {eos, elastic}
        some = store.stored_states([elastic, absent])
        assert set(some) == {elastic} and some[elastic].failure_kind is FailureKind.NON_PHYSICAL
        assert store.stored_states([]) == {}
        assert not needs_evaluation(some[elastic]) and needs_evaluation(some.get(absent))
        assert needs_evaluation(some[elastic], retry_failed=True)

    def test_records_long_form_oldest_first(self, store):
        store.put_model(MODEL_A)
        store.put_model(MODEL_B)
        store.put_records([ok_record(MODEL_B.model_id, "eos")])
        store.put_records([failed_record(MODEL_A.model_id, "elastic", FailureKind.CRASHED)])
        store.put_records([ok_record(MODEL_A.model_id, "eos", shift=1.0)])
        rows = store.records()
        assert tuple(rows.columns) == RECORD_COLUMNS
        assert rows[["model_id", "property_label"]].drop_duplicates().values.tolist() == [
            [MODEL_B.model_id, "eos"],
            [MODEL_A.model_id, "elastic"],
            [MODEL_A.model_id, "eos"],
        ]
        assert rows["created"].is_monotonic_increasing
        failed = rows[rows["status"] == "failed"]
        assert len(failed) == 1 and failed["failure_kind"].iloc[0] == "crashed" and pd.isna(failed["value"].iloc[0])
        assert failed["reason"].iloc[0] == "crashed happened"
        mine = rows[(rows["model_id"] == MODEL_A.model_id) & (rows["status"] == "ok")]
        assert mine["name"].tolist() == ["eos.a", "eos.b"] and mine["value"].tolist() == [11.0, 12.0]
        assert mine["absolute_error"].tolist() == [1.0, 2.0] and mine["unit"].tolist() == ["eV", "eV"]
        assert math.isclose(mine["wall_time_s"].iloc[0], 1.5)

    def test_details_by_model(self, store):
        store.put_model(MODEL_A)
        store.put_model(MODEL_B)
        store.put_records(
            [ok_record(MODEL_A.model_id, "eos"), failed_record(MODEL_B.model_id, "eos", FailureKind.ERROR)]
        )
        assert store.details([MODEL_A.model_id]) == {EvaluationKey(MODEL_A.model_id, "eos", "h"): {"n": 2}}
        assert store.details([MODEL_B.model_id]) == {EvaluationKey(MODEL_B.model_id, "eos", "h"): {"partial": 1}}
        assert store.details([]) == {}

    def test_plan_is_replaced_or_appended(self, store):
        assert tuple(store.plan().columns) == PLAN_COLUMNS and len(store.plan()) == 0
        assert store.put_plan([(MODEL_A.model_id, "eos", "h"), (MODEL_A.model_id, "elastic", None)]) == 2
        store.put_plan([(MODEL_B.model_id, "eos", None)], append=True)
        plan = store.plan()
        assert plan["model_id"].tolist() == [MODEL_A.model_id, MODEL_A.model_id, MODEL_B.model_id]
        assert plan["config_hash"].iloc[0] == "h" and plan["config_hash"].iloc[1:].isna().all()
        store.put_plan([(MODEL_B.model_id, "phonons", "p")])
        assert store.plan().values.tolist() == [[MODEL_B.model_id, "phonons", "p"]]

    def test_meta(self, store):
        assert store.get_meta("plan_name") is None
        store.set_meta("plan_name", "first")
        store.set_meta("plan_name", "second")
        assert store.get_meta("plan_name") == "second"

    def test_everything_is_there_after_close_and_reopen(self, tmp_path):
        store = self.make_store(tmp_path)
        store.put_model(MODEL_A)
        store.put_records(
            [ok_record(MODEL_A.model_id, "eos"), failed_record(MODEL_A.model_id, "x", FailureKind.TIMEOUT)]
        )
        store.put_plan([(MODEL_A.model_id, "eos", "h")])
        store.set_meta("plan_name", "durable")
        before = (store.models(), store.records(), store.stored_states(), store.plan())
        again = self.reopen(store, tmp_path)
        if again is None:
            store.close()
            pytest.skip("the backend does not outlive its object")
        try:
            pd.testing.assert_frame_equal(again.models(), before[0])
            pd.testing.assert_frame_equal(again.records(), before[1])
            assert again.stored_states() == before[2]
            pd.testing.assert_frame_equal(again.plan(), before[3])
            assert again.get_meta("plan_name") == "durable"
            assert again.details([MODEL_A.model_id])[EvaluationKey(MODEL_A.model_id, "eos", "h")] == {"n": 2}
        finally:
            again.close()
