"""Leaks: a benchmark leaves no sandbox log behind (however much its calculator wrote), and a calculator's
grandchild in a session of its own does not outlive the hard time limit's kill."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from mlipscope.cli import main


def test_a_chatty_calculator_leaves_no_log(injected):
    args = ["benchmark", "--calculator", "injected:chatty", "--db", "r.duckdb", "--properties", "eos"]
    done = subprocess.run([sys.executable, "-m", "mlipscope", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "1 evaluated" in done.stderr, done.stderr
    assert not list(injected.glob("*")), "sandbox logs left behind"


def test_a_detached_grandchild_dies_with_the_timed_out_evaluation(injected, tmp_path, monkeypatch, capsys):
    pid_file = tmp_path / "grandchild.pid"
    monkeypatch.setenv("MLIPSCOPE_TEST_GRANDCHILD", str(pid_file))
    args = ["benchmark", "--calculator", "injected:detach", "--db", "r.duckdb", "--time-limit", "2"]
    assert main([*args, "--properties", "vacancy_64", "eos"]) == 0
    assert "2 evaluated, 0 already stored, 1 failed" in capsys.readouterr().err
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not list(injected.glob("*"))
