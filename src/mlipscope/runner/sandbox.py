"""Evaluations in a child interpreter that the parent can kill: crashes and hangs of a model are data, not the end.

A model can take its process down (a segfault in a compiled potential, ``os.abort()``) or hang inside one
calculator call (a long LAMMPS command), where no check between calls can stop it. So each Dask worker (and
``mlipscope benchmark``) runs evaluations in one long-lived child interpreter of the same environment, started on
first use and kept between tasks so calculators stay loaded:

- requests and results travel as length-prefixed pickles over the child's stdin and a private copy of its
  stdout (the child points its own stdout at stderr, so whatever a calculator prints cannot corrupt the channel);
- the parent waits at most the task's hard deadline (``time_limit_s`` plus a grace period for the child's own,
  softer deadline check); past it, the child's whole process group is killed and the evaluation is recorded as
  ``timeout``; a child that dies is recorded as ``crashed (signal N)`` or ``crashed (exit code N)``;
- after a kill or a crash, the next evaluation starts a fresh child.

The child's stderr goes to a log file in a temporary directory (``MLIPSCOPE_SANDBOX_LOG_DIR`` to choose it), whose
tail is kept in the failure reason.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlipscope.failures import FailureKind, kind_of_exception

#: seconds the child may run past its own (soft) deadline before the parent kills it
GRACE_S = 10.0
_HEADER = struct.Struct("!Q")


class SandboxCrash(RuntimeError):
    """The child died, was killed or could not run the request; ``kind`` and ``reason`` are the failure to record."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _write_message(stream, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """``n`` bytes from ``fd``; None at end of file; raises TimeoutError past ``deadline`` (monotonic)."""
    chunks, remaining = [], n
    while remaining:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class Sandbox:
    """One child interpreter running ``function(*args)`` requests (``function``: "module:name")."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self._import_path: str = ""

    def _start(self) -> subprocess.Popen:
        log_dir = Path(os.environ.get("MLIPSCOPE_SANDBOX_LOG_DIR") or tempfile.gettempdir())
        log_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="mlipscope-sandbox-", suffix=".log", dir=log_dir)
        os.close(fd)
        self._log_path = Path(name)
        # the child imports what this process can (factories of ``module:function`` specs on a runtime sys.path)
        self._import_path = _import_path()
        env = {**os.environ, "PYTHONPATH": self._import_path}
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "mlipscope.runner.sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,  # its own process group: a kill takes LAMMPS/MPI helpers with it
            )
        return self._proc

    def call(self, function: str, args: tuple, *, timeout_s: float | None) -> Any:
        """Run ``function(*args)`` in the child; its return value, or :class:`SandboxCrash` with the reason."""
        if self._proc is not None and self._import_path != _import_path():
            self.close()  # this process can import more (or less) than the child: start one that matches
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            _write_message(proc.stdin, (function, args))
            header = _read_exact(proc.stdout.fileno(), _HEADER.size, deadline)
            body = None if header is None else _read_exact(proc.stdout.fileno(), _HEADER.unpack(header)[0], deadline)
        except TimeoutError:
            self.kill()
            reason = f"timeout: killed after the hard limit of {timeout_s:g} s"
            raise SandboxCrash(FailureKind.TIMEOUT, reason) from None
        except (BrokenPipeError, OSError):
            body = None
        if body is None:
            code = proc.wait()
            self._proc = None
            what = f"signal {-code}" if code < 0 else f"exit code {code}"
            raise SandboxCrash(FailureKind.CRASHED, f"crashed ({what}){self._log_tail()}")
        status, payload = pickle.loads(body)
        if status != "ok":
            kind, reason = payload
            raise SandboxCrash(FailureKind(kind), reason)
        return payload

    def _log_tail(self) -> str:
        try:
            text = self._log_path.read_text(errors="replace").strip() if self._log_path else ""
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()][-3:]
        return (": " + " | ".join(lines))[:400] if lines else ""

    def kill(self) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self._proc = None


def _import_path() -> str:
    return os.pathsep.join(p for p in sys.path if p and Path(p).exists())


def hard_limit_s(time_limit_s: float | None) -> float | None:
    """The parent's deadline for a task whose own (soft) limit is ``time_limit_s``: 10 % more plus a grace of
    2 s + half the limit, at most :data:`GRACE_S`."""
    if time_limit_s is None:
        return None
    return time_limit_s * 1.1 + min(GRACE_S, 2.0 + 0.5 * time_limit_s)


_WORKER_SANDBOX: Sandbox | None = None


def worker_sandbox() -> Sandbox:
    """This process's sandbox, started on first use (one per Dask worker process or CLI process)."""
    global _WORKER_SANDBOX
    if _WORKER_SANDBOX is None:
        _WORKER_SANDBOX = Sandbox()
    return _WORKER_SANDBOX


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this child when its parent dies (it runs in its own session, so a kill of the parent's process group
    does not reach it, and a hung calculator would never read the closed stdin)."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def run_isolated(
    function: str,
    args: tuple,
    time_limit_s: float | None,
    on_crash: Callable[[FailureKind, str, float], Any],
    isolate: bool = True,
) -> Any:
    """``function`` ("module:name") applied to ``args`` in this worker's sandbox child, with the task's hard limit;
    a crash, kill or timeout gives ``on_crash(kind, reason, elapsed_s)`` instead (the failed evaluations to store).
    ``isolate=False`` runs it in this process."""
    import importlib

    if not isolate:
        module_name, _, name = function.partition(":")
        return getattr(importlib.import_module(module_name), name)(*args)
    start = time.perf_counter()
    try:
        return worker_sandbox().call(function, args, timeout_s=hard_limit_s(time_limit_s))
    except SandboxCrash as crash:
        return on_crash(crash.kind, crash.reason, time.perf_counter() - start)


def serve() -> None:
    """The child's loop: read (function, args), run it, write its result, until stdin closes."""
    import importlib

    _exit_with_parent()
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed from here on goes to the log, not into the result channel
    stdin = sys.stdin.buffer
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        try:
            function, args = pickle.loads(stdin.read(_HEADER.unpack(header)[0]))
            module_name, _, name = function.partition(":")
            result = ("ok", getattr(importlib.import_module(module_name), name)(*args))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the child stays up
            reason = f"{type(exc).__name__} in the evaluation child: {exc}"[:500]
            result = ("error", (kind_of_exception(exc).value, reason))
        _write_message(channel, result)


if __name__ == "__main__":
    serve()
