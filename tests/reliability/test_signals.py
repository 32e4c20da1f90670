"""Signals: Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM stop a command with
one line saying where the results are and that a rerun resumes, exit 130 / 143, and no traceback from any process
(the CLI, its sandbox child, its Dask workers)."""

from __future__ import annotations

import signal

import pytest
from conftest import listening_beyond_loopback, signal_group, start_cli

from mlipscope.store.duckdb_store import ResultsStore

RUN = """
[run]
db = "run.duckdb"
out = "report"
workers = 1
task_timeout_s = 300
[[potentials]]
name = "slow"
calculator = "injected:slow"
[suite]
name = "si-quick"
properties = ["eos", "vacancy_64", "elastic_perfect"]
"""


def _assert_one_line(code: int, err: str, expected_code: int) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    ours = [line for line in err.splitlines() if line.startswith("mlipscope:")]
    assert len(ours) == 1 and ours[0] == err.strip().splitlines()[-1], err
    assert "stored in" in ours[0] and "run the same command again to resume" in ours[0]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_benchmark_stops_with_one_line(injected, tmp_path, signum, code):
    args = ["benchmark", "--calculator", "injected:slow", "--db", "r.duckdb", "--properties", "vacancy_64", "eos"]
    proc = start_cli(*args, marker=tmp_path / "started")
    code_seen, err = signal_group(proc, signum)
    _assert_one_line(code_seen, err, code)
    assert "r.duckdb" in err
    with ResultsStore(tmp_path / "r.duckdb", read_only=True) as store:  # the database is whole and readable
        store.evaluations()
    assert not list(injected.glob("*")), "sandbox logs left behind"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_run_with_dask_workers_stops_with_one_line(injected, tmp_path, signum, code):
    (tmp_path / "run.toml").write_text(RUN)
    proc = start_cli("run", "run.toml", "--quiet", marker=tmp_path / "started")
    # network exposure, while the whole tree runs (client, scheduler, worker, sandbox child with LAMMPS loaded)
    assert listening_beyond_loopback(proc.pid) == []
    _assert_one_line(*signal_group(proc, signum), code)


PROBE = """
import os, signal, sys, time
from mlipscope.signals import Stopped, stop_cleanly
signum = int(sys.argv[1])
term_before = signal.getsignal(signal.SIGTERM)
start = time.monotonic()
try:
    with stop_cleanly():
        assert signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())  # what children inherit
        os.kill(os.getpid(), signum)
        time.sleep(30)  # a blocking call: the signal ends it
except Stopped as stop:
    assert time.monotonic() - start < 5 and stop.signum == signum and stop.exit_code == 128 + signum
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    assert signal.getsignal(signal.SIGTERM) is term_before
    print("stopped")
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_interrupts_a_blocking_call_and_everything_is_restored_after(signum):
    import subprocess
    import sys

    # in a process of its own: this one has threads that do not block SIGINT (pytest's, other tests')
    done = subprocess.run([sys.executable, "-c", PROBE, str(int(signum))], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "stopped", done.stderr
