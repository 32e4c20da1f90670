"""The one path from plan to store: ``mlipscope run``, ``benchmark`` and ``sample`` hand their tasks and an
executor (:mod:`mlipscope.runner.executors`) to an :class:`Engine`, which skips what is stored, runs the rest and
stores each result as it completes, through the store protocol (:class:`~mlipscope.store.protocol.ResultStore`).

A fitted model's evaluations are known only once it is fitted (their keys hold its model file's hash): the caller
gives ``evaluations_of(fit)`` and the engine submits them to the running executor. Stores that buffer writes and
publish snapshots for readers (the DuckDB store's ``batch`` and ``publish_snapshot``, :class:`BufferingStore`) are
used that way when the engine runs ``batched``; any other store gets one durable write per result.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from mlipscope.runner.work import Evaluated, Evaluation, Fit, FitOutcome, model_record
from mlipscope.store.protocol import ResultStore, Status, needs_evaluation
from mlipscope.store.provenance import software_versions

if TYPE_CHECKING:  # executors import the worker-side tasks (model fitting, scipy): not needed to define the engine
    from mlipscope.runner.executors import Executor

#: the meta entries of a recorded run plan (``mlipscope status`` reads them to say what the run retries)
PLAN_META_KEYS = ("plan_name", "plan_recorded_at", "plan_max_attempts", "plan_retry_failed")


def retry_hint(n_stored_failures: int) -> str:
    """The line that says a rerun only replayed stored failures ('' for none): ``--retry-failed`` runs them."""
    if not n_stored_failures:
        return ""
    were = "failure was" if n_stored_failures == 1 else "failures were"
    return f"{n_stored_failures} stored {were} not evaluated again; add --retry-failed to retry them"


@runtime_checkable
class BufferingStore(Protocol):
    """A store's optional capability: buffered writes committed together, and snapshots for readers in other
    processes (throttled unless ``force``)."""

    def batch(self) -> AbstractContextManager[Any]: ...

    def publish_snapshot(self, *, force: bool = False) -> Path | None: ...


def record_plan(
    store: ResultStore,
    keys: Iterable[tuple[str, str, str | None]],
    *,
    name: str,
    max_attempts: int,
    retry_failed: bool,
    append: bool = False,
) -> int:
    """A run's plan (config hash None: a model still to fit) and its meta entries (:data:`PLAN_META_KEYS`), so that
    ``mlipscope status`` in another process counts what remains and knows which failures the run retries."""
    n = store.put_plan(keys, append=append)
    meta = {
        "plan_name": str(name),
        "plan_recorded_at": dt.datetime.now(dt.UTC).isoformat(),
        "plan_max_attempts": str(int(max_attempts)),
        "plan_retry_failed": str(bool(retry_failed)).lower(),
    }
    for key, value in meta.items():
        store.set_meta(key, value)
    return n


class Listener:
    """What a caller sees of a run (progress bars, log lines, its summary); every hook does nothing by default."""

    def skipped(self, evaluations: Sequence[Evaluation]) -> None:
        """``evaluations`` are stored already (or failed for good) and are not run."""

    def fitted(self, outcome: FitOutcome) -> None:
        """A fit finished (ok or failed) and its model is stored."""

    def evaluated(self, done: Evaluated) -> None:
        """An evaluation finished (ok or failed) and its record is stored."""

    def waiting(self) -> None:
        """The executor waits for results."""


class Engine:
    """Runs tasks on ``executor`` and stores their results in ``store``. ``max_attempts`` and ``retry_failed``
    decide which stored failures run again (:func:`~mlipscope.store.protocol.needs_evaluation`); ``batched``:
    buffer writes and publish snapshots where the store can (:class:`BufferingStore`)."""

    def __init__(
        self,
        store: ResultStore,
        executor: Executor,
        *,
        max_attempts: int = 2,
        retry_failed: bool = False,
        listener: Listener | None = None,
        batched: bool = False,
    ) -> None:
        self.store = store
        self.executor = executor
        self.max_attempts = max_attempts
        self.retry_failed = retry_failed
        self.listener = listener or Listener()
        self.buffering = store if batched and isinstance(store, BufferingStore) else None
        self._versions = software_versions()
        #: evaluations skipped because they are stored as failures this engine does not retry (see
        #: :func:`retry_hint`)
        self.stored_failures_skipped = 0

    def record_plan(self, keys: Iterable[tuple[str, str, str | None]], *, name: str, append: bool = False) -> int:
        """:func:`record_plan` with this engine's retry settings."""
        return record_plan(
            self.store, keys, name=name, max_attempts=self.max_attempts, retry_failed=self.retry_failed, append=append
        )

    def pending(self, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
        """The evaluations to run: not stored, or stored as a failure the run retries; the listener hears of the
        others."""
        if not evaluations:
            return []
        states = self.store.stored_states([e.key for e in evaluations])
        todo, skipped = [], []
        for evaluation in evaluations:
            state = states.get(evaluation.key)
            run = needs_evaluation(state, max_attempts=self.max_attempts, retry_failed=self.retry_failed)
            (todo if run else skipped).append(evaluation)
            self.stored_failures_skipped += not run and state is not None and state.status is Status.FAILED
        if skipped:
            self.listener.skipped(skipped)
        return todo

    def run(
        self,
        evaluations: Sequence[Evaluation] = (),
        fits: Sequence[Fit] = (),
        evaluations_of: Callable[[FitOutcome], Sequence[Evaluation]] | None = None,
    ) -> None:
        """Run the pending ``evaluations`` and the ``fits``, then the pending ``evaluations_of`` each model fitted
        ok; every result is stored as it completes."""
        batch = self.buffering.batch() if self.buffering is not None else contextlib.nullcontext()
        with batch:  # results arriving together are written in one transaction
            for result in self.executor.run([*self.pending(evaluations), *fits], on_wait=self._on_wait):
                if isinstance(result, FitOutcome):
                    self.store.put_model(model_record(result, self._versions))
                    self.listener.fitted(result)
                    if result.ok and evaluations_of is not None:
                        self.executor.submit(self.pending(evaluations_of(result)))
                else:
                    self.store.put_records([result.record(self._versions)])
                    self.listener.evaluated(result)
        if self.buffering is not None:
            self.buffering.publish_snapshot(force=True)  # every result of the run readable at once

    def _on_wait(self) -> None:
        """Write buffered results and publish the snapshot (both throttled by the store), tick the progress."""
        if self.buffering is not None:
            self.buffering.publish_snapshot()
        self.listener.waiting()
