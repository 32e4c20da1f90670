"""The engine's one path, on the in-memory store and a scripted executor: stored results are skipped and
transient failures retried, every result is stored through the protocol as it completes, a fitted model's
evaluations follow its fit, and the plan is recorded with the meta entries `mlipscope status` reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pytest

from mlipscope.failures import FailureKind
from mlipscope.models.sampling import MemberSpec
from mlipscope.properties.suite import build_suite
from mlipscope.runner.engine import BufferingStore, Engine, Listener, retry_hint
from mlipscope.runner.evaluate import EvaluationOutcome
from mlipscope.runner.work import Evaluated, Evaluation, Fit, FitOutcome, Result, Task
from mlipscope.store.memory import MemoryStore
from mlipscope.store.protocol import ModelRecord, Record, Status


class ScriptedExecutor:
    """Runs nothing: an evaluation fails with ``kinds[label]`` when given, else is ok; a fit is ok."""

    def __init__(self, kinds: dict[str, FailureKind] | None = None) -> None:
        self.kinds = kinds or {}
        self.n_tasks: dict[str, int] = {}
        self.ran: list[Task] = []
        self._queue: list[Task] = []

    def submit(self, tasks: Iterable[Task]) -> None:
        self._queue.extend(tasks)

    def run(self, tasks: Iterable[Task], on_wait: Callable[[], None] | None = None) -> Iterator[Result]:
        self.submit(tasks)
        while self._queue:
            task = self._queue.pop(0)
            self.ran.append(task)
            if isinstance(task, Fit):
                yield FitOutcome(task, "ok", model_file_hash=f"file-{task.model_id}")
            elif task.prop.label in self.kinds:
                yield Evaluated.failed(task, self.kinds[task.prop.label], "scripted")
            else:
                yield Evaluated(task.key, EvaluationOutcome(task.prop.label, "ok", wall_time_s=1.0))


class Recording(Listener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def skipped(self, evaluations) -> None:
        self.events += [("skipped", e.prop.label) for e in evaluations]

    def fitted(self, outcome) -> None:
        self.events.append(("fitted", outcome.planned.model_id))

    def evaluated(self, done) -> None:
        self.events.append((done.outcome.status, done.key.property_label))


@pytest.fixture(scope="module")
def props():
    return build_suite("si-default", ["eos", "vacancy_64", "errors_mlearn_test"], material="si")


def _store_with_model(model_id: str = "m") -> MemoryStore:
    store = MemoryStore()
    store.put_model(ModelRecord(model_id, "external", {"calculator": "sw"}))
    return store


def test_stored_results_are_skipped_and_transient_failures_retried(props):
    store = _store_with_model()
    evaluations = [Evaluation.of("m", "sw", p, "none") for p in props]
    kinds = {"eos": FailureKind.NON_PHYSICAL, "vacancy_64": FailureKind.TIMEOUT}
    Engine(store, ScriptedExecutor(kinds)).run(evaluations)
    states = store.stored_states()
    assert {k.property_label: (s.status, s.failure_kind) for k, s in states.items()} == {
        "eos": (Status.FAILED, FailureKind.NON_PHYSICAL),
        "vacancy_64": (Status.FAILED, FailureKind.TIMEOUT),
        "errors_mlearn_test": (Status.OK, None),
    }
    listener, executor = Recording(), ScriptedExecutor()
    engine = Engine(store, executor, max_attempts=2, listener=listener)
    engine.run(evaluations)
    # the deterministic failure and the ok result stay; the timeout runs again (its second attempt)
    assert [t.prop.label for t in executor.ran] == ["vacancy_64"]
    assert engine.stored_failures_skipped == 1  # eos: --retry-failed would run it (the ok result is no failure)
    assert sorted(listener.events) == [("ok", "vacancy_64"), ("skipped", "eos"), ("skipped", "errors_mlearn_test")]
    by_label = {e.prop.label: e.key for e in evaluations}
    assert store.stored_states()[by_label["vacancy_64"]].attempts == 2
    executor = ScriptedExecutor()
    engine = Engine(store, executor, retry_failed=True)
    engine.run(evaluations)
    assert [t.prop.label for t in executor.ran] == ["eos"]  # with retry_failed every stored failure runs again
    assert engine.stored_failures_skipped == 0


def test_the_retry_hint_counts_stored_failures():
    assert retry_hint(0) == ""
    assert retry_hint(1) == "1 stored failure was not evaluated again; add --retry-failed to retry them"
    assert retry_hint(3).startswith("3 stored failures were not evaluated again")


def test_a_fitted_model_is_stored_before_its_evaluations_run(props, tmp_path):
    store, listener, executor = MemoryStore(), Recording(), ScriptedExecutor()
    fit = Fit("snap-1", MemberSpec("snap", {"twojmax": 4}, "si_original_train", 0, 0), "hash", str(tmp_path))

    def evaluations_of(outcome: FitOutcome) -> list[Evaluation]:
        assert store.models()["model_id"].tolist() == ["snap-1"]  # the model is put first
        planned = outcome.planned
        return [Evaluation.of(planned.model_id, planned.model_dir, p, "none", model_file_hash=outcome.model_file_hash)
                for p in props]  # fmt: skip

    Engine(store, executor, listener=listener).run(fits=[fit], evaluations_of=evaluations_of)
    assert listener.events[0] == ("fitted", "snap-1") and len(listener.events) == 1 + len(props)
    records = store.records()
    assert sorted(records["property_label"]) == sorted(p.label for p in props)
    assert (records["status"] == "ok").all()
    models = store.models()
    assert models.loc[0, "model_file_hash"] == "file-snap-1" and models.loc[0, "path"] == fit.model_dir


def test_the_plan_is_recorded_with_its_meta_entries():
    store = _store_with_model()
    engine = Engine(store, ScriptedExecutor(), max_attempts=3, retry_failed=True)
    assert engine.record_plan([("m", "eos", "h1"), ("m", "vacancy_64", None)], name="si") == 2
    assert store.plan().values.tolist() == [["m", "eos", "h1"], ["m", "vacancy_64", None]]
    assert (store.get_meta("plan_name"), store.get_meta("plan_max_attempts")) == ("si", "3")
    assert store.get_meta("plan_retry_failed") == "true" and store.get_meta("plan_recorded_at").endswith("+00:00")
    engine.record_plan([("m", "rdf", None)], name="si", append=True)  # the dynamics stage adds to the plan
    assert len(store.plan()) == 3


def test_buffering_is_used_only_where_the_store_offers_it(props):
    class Buffered(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def batch(self):
            import contextlib

            self.calls.append("batch")
            return contextlib.nullcontext()

        def publish_snapshot(self, *, force: bool = False):
            self.calls.append(f"publish force={force}")

    assert not isinstance(MemoryStore(), BufferingStore)
    store = Buffered()
    assert isinstance(store, BufferingStore)
    store.put_model(ModelRecord("m", "external"))
    evaluation = Evaluation.of("m", "sw", props[0], "none")
    Engine(store, ScriptedExecutor(), batched=True).run([evaluation])
    assert store.calls == ["batch", "publish force=True"]
    assert isinstance(store.put_records([Record(evaluation.key, Status.OK)]), int)
