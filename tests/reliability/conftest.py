"""The failure-injection suite: each test injects one failure class of issue 21 (network exposure, memory,
leaks, signals, scheduler addresses) through the command line, as a user meets it, and asserts the outcome the
README's "What happens when things go wrong" table promises. Small and fast: the whole folder runs in CI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def injected(tmp_path, monkeypatch) -> Path:
    """``injected:<name>`` calculators importable here, in sandbox children and in subprocesses; sandbox logs in a
    folder of the test's own (returned)."""
    logs = tmp_path / "sandbox-logs"
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MLIPSCOPE_SANDBOX_LOG_DIR", str(logs))
    monkeypatch.setenv("MLIPSCOPE_CHILD_MEMORY_BYTES", "")  # the default unless a test sets one
    monkeypatch.chdir(tmp_path)
    return logs


def start_cli(*args: str, marker: Path) -> subprocess.Popen:
    """``python -m mlipscope <args>`` in a process group of its own (as a terminal runs it), once a calculation
    is running (the injected calculator touches ``marker``)."""
    env = {**os.environ, "MLIPSCOPE_TEST_STARTED": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "mlipscope", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None and marker.exists(), f"no calculation started: {proc.communicate()[1][-2000:]}"
    return proc


def signal_group(proc: subprocess.Popen, signum: int) -> tuple[int, str]:
    """Send ``signum`` to the process group (as Ctrl-C does); the exit status and stderr."""
    os.killpg(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, err


def listening_beyond_loopback(pid: int) -> list[tuple[str, str, int]]:
    """(command, address, port) of every socket that the process tree of ``pid`` listens on beyond loopback."""
    found = []
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.ip not in ("127.0.0.1", "::1"):
                    found.append((" ".join(proc.cmdline())[:80], conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            continue
    return found
