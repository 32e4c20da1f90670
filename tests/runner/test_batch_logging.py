"""A run whose stderr is a file (SLURM, nohup, CI) shows progress as plain lines at a fixed interval and one line
per failure with its reason; the same goes to the log file; ``--quiet`` keeps only the closing summary."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

try:
    from .test_faults_crash import MISBEHAVING
except ImportError:  # tests/runner is not a package: pytest puts this directory on sys.path
    from test_faults_crash import MISBEHAVING

CONFIG = """
[run]
db = "run.duckdb"
out = "report"
workers = 1
progress_interval_s = 0.2
[[potentials]]
name = "crashes"
calculator = "misbehaving:segfault"
[[potentials]]
name = "SW"
calculator = "sw"
[suite]
name = "si-quick"
properties = ["eos", "vacancy_64"]
"""
PROGRESS = re.compile(r"evaluations: (\d+) done · (\d+) failed · (\d+) left · \S+ elapsed · ETA \S+")


def _run(tmp_path, *extra: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    err = tmp_path / "stderr.txt"
    with open(err, "w") as fh:  # a file, not a terminal: batch mode
        done = subprocess.run(
            [sys.executable, "-m", "mlipscope", "run", "run.toml", *extra],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=fh,
            env=env,
            timeout=600,
        )
    text = err.read_text()
    assert done.returncode == 0, text[-3000:]
    return text


@pytest.mark.slow
def test_batch_run_prints_progress_lines_and_failures(tmp_path):
    (tmp_path / "misbehaving.py").write_text(MISBEHAVING)
    (tmp_path / "run.toml").write_text(CONFIG)
    text = _run(tmp_path)
    assert "\x1b[" not in text  # no terminal control codes in a file
    lines = [tuple(map(int, m.groups())) for m in PROGRESS.finditer(text)]
    assert len(lines) >= 2, text[-3000:]
    assert lines[-1] == (3, 1, 0)  # the closing line: 4 evaluations, the crash among them
    assert re.search(r"failed: \S+ vacancy_64: crashed \(signal 11\)", text)
    log = (tmp_path / "report" / "run.log").read_text()
    assert PROGRESS.search(log) and "crashed (signal 11)" in log and "summary:" in log
    summary_line = next(line for line in log.splitlines() if " summary: " in line)
    summary = json.loads(summary_line.split(" summary: ", 1)[1])  # the line's JSON part is valid JSON
    assert summary["n_evaluations"] == 4 and summary["n_evaluations_failed"] == 1
    # --quiet: the retried crash and the progress stay out of the console, the summary line does not
    quiet = _run(tmp_path, "--quiet", "--retry-failed", "--log-file", "other.log")
    assert not PROGRESS.search(quiet) and "failed:" not in quiet
    assert "1 evaluations this run (1 failed)" in quiet
    assert "crashed (signal 11)" in (tmp_path / "other.log").read_text()


def test_a_waiting_run_still_prints_a_line_per_interval(monkeypatch):
    """Minutes without a finished task (a long fit) must not mean minutes of silence in a batch log. The clock is
    the test's: on a loaded machine a real one can pass the interval between two statements."""
    import io
    import types

    from rich.console import Console

    import mlipscope.runner.progress as progress_module
    from mlipscope.runner.progress import RunProgress

    now = [1000.0]
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    out = io.StringIO()
    with RunProgress(Console(file=out, width=200), interval_s=60.0) as progress:
        progress.stage("fits", 3)
        now[0] += 59.0
        progress.tick()
        assert out.getvalue() == ""  # not due yet
        now[0] += 1.5
        progress.tick()
        assert "fits: 0 done · 0 failed · 3 left" in out.getvalue()
