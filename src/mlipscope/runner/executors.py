"""Executors: where the engine's tasks (:class:`~mlipscope.runner.work.Evaluation`, :class:`~mlipscope.runner.work.Fit`)
run. All behind one protocol, :class:`Executor`: ``run(tasks)`` yields each result as it completes, and tasks handed
to ``submit`` while that iterator runs (the evaluations of a model just fitted) run too.

- :class:`InProcessExecutor`: one task after another in this process (tests, small benchmarks).
- :class:`SandboxedExecutor`: the same, each evaluation in this process's sandbox child
  (:func:`~mlipscope.runner.sandbox.run_isolated`): a crash or hang is a failed result, the run goes on.
- :class:`DaskExecutor`: on a Dask cluster, each evaluation in its worker's sandbox child; grouping per model and
  batching of linear members (:mod:`mlipscope.runner.submission`) are its capabilities; a task whose workers kept
  dying comes back as failed results of kind ``worker_lost``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from mlipscope.runner.work import Evaluated, Evaluation, Fit, FitOutcome, Result, Task

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

    from mlipscope.properties.references import Reference
    from mlipscope.runner.submission import Submission

log = logging.getLogger(__name__)

# fetching a finished task's result: poll this often, and give up (a transient failure, retried on the next run)
# after this long while Dask still calls it finished
FETCH_POLL_S = 5.0
FETCH_GIVE_UP_S = 60.0
RESULT_LOST = object()  # marker: the result's worker died before the fetch; the task is being recomputed


class Executor(Protocol):
    """Runs tasks; ``n_tasks`` counts what it started, by kind (the run summary reports it)."""

    n_tasks: dict[str, int]

    def run(self, tasks: Iterable[Task], on_wait: Callable[[], None] | None = None) -> Iterator[Result]:
        """Run ``tasks`` and yield each result as it completes, until nothing is left (tasks given to
        :meth:`submit` meanwhile included). ``on_wait``: called while waiting for results (the engine stores what
        it buffered and ticks the progress)."""
        ...

    def submit(self, tasks: Iterable[Task]) -> None:
        """Add tasks to the run in progress."""
        ...


class InProcessExecutor:
    """One task after another in this process; with ``isolate`` each evaluation in the sandbox child.

    ``calculator`` / ``reference``: objects the caller built already (``mlipscope benchmark`` without a sandbox):
    then every evaluation uses them instead of loading its model and reference from their specs.
    ``on_progress(label, unit, done, total)``: the running evaluation's progress, ``(label, "", 0, 0)`` as it
    starts, then what its property reports (e.g. frames done / total)."""

    def __init__(
        self,
        time_limit_s: float | None = None,
        *,
        isolate: bool = False,
        calculator: Calculator | None = None,
        reference: Reference | None = None,
        on_progress: Callable[[str, str, int, int], None] | None = None,
    ) -> None:
        self.time_limit_s = time_limit_s
        self.isolate = isolate
        self.calculator = calculator
        self.reference = reference
        self.on_progress = on_progress
        self.n_tasks: dict[str, int] = {}
        self._queue: deque[Task] = deque()
        self._contexts: dict[str, Any] = {}

    def submit(self, tasks: Iterable[Task]) -> None:
        self._queue.extend(tasks)

    def run(self, tasks: Iterable[Task], on_wait: Callable[[], None] | None = None) -> Iterator[Result]:
        self.submit(tasks)
        while self._queue:
            task = self._queue.popleft()
            kind = "fit" if isinstance(task, Fit) else "single"
            self.n_tasks[kind] = self.n_tasks.get(kind, 0) + 1
            if isinstance(task, Fit):
                yield _fit_planned(task)
                continue
            # what a model prints as it loads or runs (CHGNet's banner) must not reach stdout (``--json``); the
            # sandbox child points its own stdout at its log, this covers models loaded here
            with contextlib.redirect_stdout(sys.stderr):
                evaluated = self._evaluate(task)
            yield evaluated

    def _evaluate(self, evaluation: Evaluation) -> Evaluated:
        on_progress = None
        if self.on_progress is not None:
            on_progress = functools.partial(self.on_progress, evaluation.prop.label)
            on_progress("", 0, 0)
        if self.calculator is None and self.reference is None:
            # the worker-side tasks module is imported on first use: the sandboxed path needs none of it here
            from mlipscope.runner.tasks import evaluate_task

            return evaluate_task(evaluation, self.time_limit_s, self.isolate, on_progress=on_progress)
        from mlipscope.calculators import make_calculator
        from mlipscope.properties.context import MaterialContext
        from mlipscope.properties.progress import progress_reporter
        from mlipscope.runner.evaluate import evaluate_property

        if self.calculator is None:
            self.calculator = make_calculator(evaluation.model)
        material = evaluation.material  # one context per material: its relaxed bulk is shared by its properties
        context = self._contexts.setdefault(material.fingerprint(), MaterialContext(material))
        with progress_reporter(on_progress):
            outcome = evaluate_property(
                evaluation.prop, self.calculator, self.reference, time_limit_s=self.time_limit_s, context=context
            )
        return Evaluated(evaluation.key, outcome)


def _fit_planned(task: Fit) -> FitOutcome:
    from mlipscope.runner.tasks import fit_planned

    return fit_planned(task)


class SandboxedExecutor(InProcessExecutor):
    """:class:`InProcessExecutor` with each evaluation in the sandbox child (a crash or hang is a stored failure and
    a hard time limit holds)."""

    def __init__(
        self, time_limit_s: float | None = None, on_progress: Callable[[str, str, int, int], None] | None = None
    ) -> None:
        super().__init__(time_limit_s, isolate=True, on_progress=on_progress)


class DaskExecutor:
    """Tasks on a Dask cluster (``client``), submitted by ``submission`` (grouping, linear batches). Fixed-geometry
    evaluations of linear members wait for their batch until no fit is running. ``console``: where lost workers
    are reported; ``no_worker_wait_s``: how long a run waits with no worker left; ``db_path``: named in the
    messages of a run that stops (everything finished is stored there)."""

    def __init__(
        self, client: Any, submission: Submission, *, console: Any, no_worker_wait_s: float, db_path: Any
    ) -> None:
        self.client = client
        self.submission = submission
        self.console = console
        self.no_worker_wait_s = no_worker_wait_s
        self.db_path = db_path
        self.n_tasks = submission.n_tasks
        self._queue: list[Task] = []
        self._fits_left = 0

    def submit(self, tasks: Iterable[Task]) -> None:
        self._queue.extend(tasks)

    def _flush(self) -> None:
        """Submit the queued tasks (evaluations first, then fits: as one call each, so that what one task returned
        is grouped together); release the linear batches once no fit is running."""
        queued, self._queue = self._queue, []
        fits = [t for t in queued if isinstance(t, Fit)]
        self.submission.evaluations([t for t in queued if isinstance(t, Evaluation)])
        self.submission.fits(fits)
        self._fits_left += len(fits)
        if self._fits_left == 0:  # every member of every descriptor group is known now
            self.submission.linear_batches()

    def run(self, tasks: Iterable[Task], on_wait: Callable[[], None] | None = None) -> Iterator[Result]:
        from dask.distributed import as_completed

        futures = self.submission.futures = as_completed()
        self.submit(tasks)
        self._flush()
        for future in self._completed(futures, on_wait or (lambda: None)):
            if future.status not in ("finished", "error", "cancelled"):
                # its result was on a worker that died: Dask computes it again; wait for it once more
                futures.add(future)
                continue
            result = self._result_or_lost(future)
            if result is RESULT_LOST:
                # the worker holding it died between "finished" and our fetch: Dask computes it again
                futures.add(future)
                continue
            for item in result if isinstance(result, list) else [result]:
                self._fits_left -= isinstance(item, FitOutcome)
                yield item
            self._flush()
            future.release()

    def _completed(self, futures: Any, on_wait: Callable[[], None]) -> Iterator[Any]:
        """Finished futures as they come, watching the cluster between them: a lost worker is logged (Dask runs
        its tasks elsewhere); with no worker left the run waits ``no_worker_wait_s`` and then stops; a scheduler
        that stops answering ends the run with one line (everything finished is stored: rerun to resume)."""
        from mlipscope.errors import MlipscopeError

        workers = set(self.client.scheduler_info().get("workers", {}))
        alone_since = None
        last_check = time.monotonic()
        while True:
            batch = futures.next_batch(block=False)
            if batch:
                yield from batch
                continue
            if futures.is_empty():
                if not self._queue:
                    return
                self._flush()  # submitted by the engine after the last result
                continue
            on_wait()  # before the sleep: results just handed over are stored at once
            time.sleep(0.05)
            if time.monotonic() - last_check < 2.0:
                continue
            last_check = time.monotonic()
            try:
                now = set(self.client.scheduler_info().get("workers", {}))
            except Exception as exc:  # noqa: BLE001 - any comm error means the scheduler is gone
                raise MlipscopeError(self._scheduler_lost(exc)) from None
            if self.client.status not in ("running", "connecting", "newly-created"):
                raise MlipscopeError(self._scheduler_lost(self.client.status))
            for lost in sorted(workers - now):
                self.console.print(f"[yellow]Dask worker lost: {lost}; its tasks run again on the other workers")
                log.warning("Dask worker lost: %s", lost)
            workers = now
            alone_since = None if now else (alone_since or time.monotonic())
            if alone_since is not None:
                self._wait_for_a_worker(time.monotonic() - alone_since)

    def _wait_for_a_worker(self, waited_s: float) -> None:
        from mlipscope.errors import MlipscopeError

        if waited_s == 0 or int(waited_s) % 30 < 2:
            self.console.print(f"[yellow]no Dask worker left; waiting up to {self.no_worker_wait_s:g} s for one")
        if waited_s > self.no_worker_wait_s:
            raise MlipscopeError(
                f"no Dask worker for {waited_s:.0f} s (run.no_worker_wait_s); every finished result is stored "
                f"in {self.db_path}: start workers and run again to resume"
            )

    def _scheduler_lost(self, why: object) -> str:
        return (
            f"the Dask scheduler stopped answering ({why}); every finished result is stored in "
            f"{self.db_path}: run again to resume"
        )

    def _result_or_lost(self, future: Any) -> Any:
        """The task's result; a task whose workers kept dying (Dask's KilledWorker) comes back as failed results;
        a task cancelled because the scheduler is gone ends the run (its result is not stored: rerun to resume)."""
        from mlipscope.errors import MlipscopeError

        try:
            # a bounded fetch: the worker holding a finished result can die before we gather it, and an unbounded
            # ``result()`` then waits for a recomputation that, with no worker left, never comes
            waited_s = 0.0
            while True:
                try:
                    return future.result(timeout=FETCH_POLL_S)
                except TimeoutError:
                    waited_s += FETCH_POLL_S
                    if future.status != "finished":
                        return RESULT_LOST
                    if waited_s >= FETCH_GIVE_UP_S:
                        raise TimeoutError(f"its result could not be fetched in {waited_s:.0f} s") from None
        except Exception as exc:  # noqa: BLE001 - a lost task is a (transient) failed result, not the run's end
            if self.client.status != "running" or "Cancelled" in type(exc).__name__:
                raise MlipscopeError(self._scheduler_lost(f"{type(exc).__name__}: {exc}"[:200])) from None
            lost = self.submission.lost(future.key, f"worker lost: {type(exc).__name__}: {exc}"[:500])
            if lost is None:
                raise
            return lost
