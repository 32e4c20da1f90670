"""Dask faults with a real `dask scheduler` and `dask worker` started by the test on 127.0.0.1: a killed worker's
tasks run on the other worker and nothing is lost or duplicated; with no worker left the run stops after a bounded
wait; a scheduler that dies ends the run with one line and the restart resumes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlipscope.errors import MlipscopeError
from mlipscope.failures import FailureKind
from mlipscope.properties.suite import build_suite
from mlipscope.runner.config import load_config
from mlipscope.runner.executors import DaskExecutor
from mlipscope.runner.main_job import MainJob
from mlipscope.runner.submission import Submission
from mlipscope.runner.work import Evaluation
from mlipscope.store.duckdb_store import ResultsStore

DASK = str(Path(sys.executable).with_name("dask"))
CONFIG = """
[run]
db = "run.duckdb"
out = "report"
no_worker_wait_s = 6
[[potentials]]
name = "SW"
calculator = "sw"
[[potentials]]
name = "Tersoff"
calculator = "tersoff"
[suite]
name = "si-default"
properties = ["eos", "vacancy_64", "migration_vacancy", "phonons_perfect", "elastic_perfect", "surface_100"]
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([DASK, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture
def cluster(tmp_path):
    port = _port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    workers = [_start("worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard") for _ in range(2)]
    from dask.distributed import Client

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with Client(address, timeout="2s") as client:
                if len(client.scheduler_info()["workers"]) == 2:
                    break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        pytest.fail("the test cluster did not start")
    (tmp_path / "run.toml").write_text(CONFIG)
    yield address, scheduler, workers
    for proc in [*workers, scheduler]:
        _kill(proc)


def _stored(db: Path):
    with ResultsStore(db, read_only=True) as store:
        return store.evaluations().drop_duplicates(["model_id", "property_label"])


def _rows(db: Path) -> list[tuple[str, str, str, str, int]]:
    """Evaluation rows as stored (no de-duplication): (model, property, status, reason, attempts)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT model_id, property_label, status, reason, attempts FROM evaluations").fetchall()
    finally:
        con.close()


def _interrupted_run_state(db: Path) -> tuple[int, set[tuple[str, str]]]:
    """After an interrupted run: how many stored results a rerun must skip (everything but transient failures,
    which it retries), and the (model, property) keys of the transient failures. Which evaluations were in flight
    when the fault struck is a matter of timing; what a rerun does with each stored row is not."""
    with ResultsStore(db, read_only=True) as store:
        failures = store.failures()
    is_transient = failures["failure_kind"].map(lambda kind: FailureKind(kind).transient).astype(bool)
    transient = failures.loc[is_transient]
    keys = set(zip(transient["model_id"], transient["property_label"], strict=True))
    return len(_stored(db)) - len(keys), keys


def _assert_resumed(db: Path, summary, must_skip: int, retried: set[tuple[str, str]]) -> None:
    """The rerun skipped exactly the stored non-transient results, retried every transient failure (now stored with
    a second attempt or as a result), and left one row per (model, property): nothing lost, nothing stored twice."""
    assert summary.n_skipped_stored == must_skip
    rows = _rows(db)
    assert len(rows) == 12 and len({(m, p) for m, p, *_ in rows}) == 12
    after = {(m, p): (status, reason, attempts) for m, p, status, reason, attempts in rows}
    for key in retried:  # run again: stored as a result, or as a failure of its second attempt
        status, reason, attempts = after[key]
        assert status == "ok" or attempts == 2, (key, reason)


def _kill_when(events: Path, victims, n_stored: int) -> threading.Thread:
    """Kill ``victims`` once the run has stored ``n_stored`` results (its events log says so)."""

    def watch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if events.exists() and len(events.read_text().splitlines()) >= n_stored:
                break
            time.sleep(0.05)
        for proc in victims:
            _kill(proc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_killed_worker_loses_nothing(cluster, tmp_path):
    address, _, workers = cluster
    config = load_config(tmp_path / "run.toml")
    watcher = _kill_when(tmp_path / "report" / "events.jsonl", [workers[0]], 2)
    MainJob(config, scheduler=address, show_progress=False).run()
    watcher.join()
    stored = _stored(tmp_path / "run.duckdb")
    assert len(stored) == 12  # 2 models x 6 properties, none lost
    failed = stored[stored["status"] != "ok"]
    assert failed["reason"].str.startswith("non-physical").all(), failed["reason"].tolist()  # physics, not faults
    import duckdb

    con = duckdb.connect(str(tmp_path / "run.duckdb"), read_only=True)
    try:  # and none stored twice: one evaluation row per (model, property)
        assert con.execute("SELECT count(*) FROM evaluations").fetchone()[0] == 12
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_no_worker_left_stops_after_a_bounded_wait_and_the_rerun_resumes(cluster, tmp_path):
    address, _, workers = cluster
    config = load_config(tmp_path / "run.toml")
    watcher = _kill_when(tmp_path / "report" / "events.jsonl", workers, 2)
    start = time.monotonic()
    with pytest.raises(MlipscopeError, match="no Dask worker for .* run again to resume"):
        MainJob(config, scheduler=address, show_progress=False).run()
    watcher.join()
    assert time.monotonic() - start < 90
    assert 2 <= len(_stored(tmp_path / "run.duckdb")) < 12
    must_skip, retried = _interrupted_run_state(tmp_path / "run.duckdb")
    summary = MainJob(load_config(tmp_path / "run.toml"), n_workers=2, show_progress=False).run()  # local cluster
    _assert_resumed(tmp_path / "run.duckdb", summary, must_skip, retried)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_scheduler_death_is_one_line_and_the_rerun_resumes(cluster, tmp_path):
    address, scheduler, _ = cluster
    config = load_config(tmp_path / "run.toml")
    watcher = _kill_when(tmp_path / "report" / "events.jsonl", [scheduler], 2)
    with pytest.raises(MlipscopeError, match="scheduler stopped answering"):
        MainJob(config, scheduler=address, show_progress=False).run()
    watcher.join()
    assert 2 <= len(_stored(tmp_path / "run.duckdb")) < 12
    must_skip, retried = _interrupted_run_state(tmp_path / "run.duckdb")
    summary = MainJob(load_config(tmp_path / "run.toml"), n_workers=2, show_progress=False).run()
    _assert_resumed(tmp_path / "run.duckdb", summary, must_skip, retried)


class _StuckFuture:
    """A future whose result cannot be fetched: Dask moved it back to ``status_after`` (its worker died after it
    finished) or still calls it finished."""

    key = "eval-m-vacancy_64"

    def __init__(self, status_after: str) -> None:
        self.status = "finished"
        self._status_after = status_after
        self.calls = 0

    def result(self, timeout=None):
        assert timeout is not None, "an unbounded fetch can hang forever when no worker is left"
        self.calls += 1
        self.status = self._status_after
        raise TimeoutError


class _RunningClient:
    status = "running"


def _executor() -> DaskExecutor:
    submission = Submission(_RunningClient(), None, None, {})
    return DaskExecutor(_RunningClient(), submission, console=None, no_worker_wait_s=1.0, db_path="db")


def test_result_lost_between_finish_and_fetch_is_awaited_again(monkeypatch):
    import mlipscope.runner.executors as executors

    monkeypatch.setattr(executors, "FETCH_POLL_S", 0.01)
    future = _StuckFuture("pending")
    assert _executor()._result_or_lost(future) is executors.RESULT_LOST
    assert future.calls == 1


def test_result_that_never_arrives_becomes_a_failed_evaluation(monkeypatch):
    import mlipscope.runner.executors as executors

    monkeypatch.setattr(executors, "FETCH_POLL_S", 0.01)
    monkeypatch.setattr(executors, "FETCH_GIVE_UP_S", 0.05)
    executor = _executor()
    (prop,) = build_suite("si-default", ["vacancy_64"], material="si")
    executor.submission.task_info = {"eval-m-vacancy_64": [Evaluation("m", "dir-m", prop, "si-dft", "key")]}
    (lost,) = executor._result_or_lost(_StuckFuture("finished"))
    assert tuple(lost.key) == ("m", "vacancy_64", "key") and lost.outcome.status == "failed"
    assert lost.outcome.failure_kind is FailureKind.WORKER_LOST
    assert "could not be fetched" in lost.outcome.reason
