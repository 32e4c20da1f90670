"""Evaluations in a child interpreter that the parent can kill: crashes and hangs of a model are data, not the end.

A model can take its process down (a segfault in a compiled potential, ``os.abort()``), hang inside one calculator
call (a long LAMMPS command), where no check between calls can stop it, or allocate more memory than the machine
has. So each Dask worker (and ``mlipscope benchmark``) runs evaluations in one long-lived child interpreter of the
same environment, started on first use and kept between tasks so calculators stay loaded:

- requests and results (and, when asked for, progress reports before a result) travel as length-prefixed pickles
  over the child's stdin and a private copy of its stdout (the child points its own stdout at stderr, so whatever
  a calculator prints, CHGNet's banner or LAMMPS's log, reaches neither the channel nor the CLI's stdout);
- the parent waits at most the task's hard deadline (``time_limit_s`` plus a grace period for the child's own,
  softer deadline check); past it, the child and every process it started (also those in a session of their own)
  are killed and the evaluation is recorded as ``timeout``; a child that dies is recorded as
  ``crashed (signal N)`` or ``crashed (exit code N)``;
- memory: the child's writable memory is limited (``RLIMIT_DATA``, inherited by what it starts) to
  :func:`~mlipscope.runner.child_memory.child_memory_bytes` (``MLIPSCOPE_CHILD_MEMORY_BYTES``; default 80 % of the
  machine's memory; the runner sets it with :func:`~mlipscope.runner.child_memory.set_child_memory_limit`), so an
  oversized allocation fails at once inside the model; the parent also kills the child when its processes together
  hold more than that. Both are recorded as ``out of memory: ...`` (kind ``out_of_memory``). ``RLIMIT_DATA`` rather
  than ``RLIMIT_AS``: address space that torch, CUDA or MPI only reserve is not memory, and limiting it breaks them;
- after a kill or a crash, the next evaluation starts a fresh child;
- start-up: the child imports what evaluations need (:data:`PRELOAD`) as soon as it starts, before it reads its
  first request; :meth:`Sandbox.start` starts it ahead of the first call, so that a caller that knows it will need
  the child can have this happen while it does its own imports;
- threads: the child's BLAS and OpenMP pools have one thread (:mod:`mlipscope.runner.threads`).

This module is the parent's side; the child runs :mod:`mlipscope.runner.sandbox_child`.

The child's stderr goes to a log file in a temporary directory (``MLIPSCOPE_SANDBOX_LOG_DIR`` to choose it), whose
tail is kept in the failure reason. The log is cut to its tail past :data:`LOG_MAX_BYTES` and removed when the
sandbox closes (at the latest at interpreter exit); logs of processes that died without closing are removed by the
next sandbox that starts in the same directory.
"""

from __future__ import annotations

import atexit
import contextlib
import copyreg
import io
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from mlipscope.failures import FailureKind, out_of_memory_reason
from mlipscope.runner.child_memory import MEMORY_ENV, child_memory_bytes
from mlipscope.runner.child_memory import set_child_memory_limit as set_child_memory_limit  # re-exported
from mlipscope.runner.threads import single_thread_env

#: seconds the child may run past its own (soft) deadline before the parent kills it
GRACE_S = 10.0
#: a child's log is cut to its last :data:`LOG_KEEP_BYTES` when it grows past this
LOG_MAX_BYTES = 4 << 20
LOG_KEEP_BYTES = 1 << 20
#: seconds between the parent's checks of the child's memory and log while it waits for a result
POLL_S = 0.5
_HEADER = struct.Struct("!Q")
_LOG_NAME = re.compile(r"mlipscope-sandbox-(\d+)-[^/]*\.log")
#: what a process that died of an allocation failure leaves at the end of its log
_OUT_OF_MEMORY_MARKERS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
_GIB = float(1 << 30)
#: what the child runs when it starts, before its first request (``module:function``; a failure is ignored: the
#: request that needs the module reports it)
PRELOAD = "mlipscope.runner.evaluate:import_evaluation_modules"


class SandboxCrash(RuntimeError):
    """The child died, was killed or could not run the request; ``kind`` and ``reason`` are the failure to record."""

    def __init__(self, kind: FailureKind, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _write_message(stream, obj: Any, dispatch_table: dict | None = None) -> None:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    if dispatch_table is not None:
        pickler.dispatch_table = dispatch_table
    pickler.dump(obj)
    data = buffer.getvalue()
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _request_dispatch_table() -> dict:
    """How a request to the child pickles: materials whole, so the child need not read and validate their files
    again (Dask transports keep sending a material's path: :meth:`Material.__reduce__`)."""
    from mlipscope.materials.material import Material

    return {**copyreg.dispatch_table, Material: Material.reduce_whole}


def _read_exact(fd: int, n: int, deadline: float | None, on_wait: Callable[[], None]) -> bytes | None:
    """``n`` bytes from ``fd``; None at end of file; raises TimeoutError past ``deadline`` (monotonic). ``on_wait``
    runs every :data:`POLL_S` while nothing arrives (it may raise to stop waiting)."""
    chunks, remaining = [], n
    while remaining:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], POLL_S if left is None else min(POLL_S, left))
        if not ready:
            on_wait()
            continue
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def trim_log(path: Path, max_bytes: int | None = None, keep_bytes: int | None = None) -> None:
    """Cut ``path`` to its last ``keep_bytes`` (:data:`LOG_KEEP_BYTES`) when it is larger than ``max_bytes``
    (:data:`LOG_MAX_BYTES`); the child appends, so its next writes land after the kept tail."""
    max_bytes = LOG_MAX_BYTES if max_bytes is None else max_bytes
    keep_bytes = min(max_bytes, LOG_KEEP_BYTES if keep_bytes is None else keep_bytes)
    try:
        size = path.stat().st_size
        if size <= max_bytes:
            return
        with open(path, "r+b") as log:
            log.seek(size - keep_bytes)
            tail = log.read()
            log.seek(0)
            log.truncate()
            log.write(f"[mlipscope: {size - keep_bytes} bytes of earlier output cut]\n".encode() + tail)
    except OSError:
        return


def _remove_orphaned_logs(log_dir: Path) -> None:
    """Remove the logs of sandboxes whose parent process is gone (killed before it could remove them)."""
    with contextlib.suppress(OSError):
        for path in log_dir.glob("mlipscope-sandbox-*.log"):
            match = _LOG_NAME.fullmatch(path.name)
            if match and not psutil.pid_exists(int(match.group(1))):
                with contextlib.suppress(OSError):
                    path.unlink()


def _kill_processes(processes: list[psutil.Process]) -> None:
    """SIGKILL each process that still runs (psutil checks that a pid was not reused) and wait briefly for them."""
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(processes, timeout=2)


_LIVE: weakref.WeakSet[Sandbox] = weakref.WeakSet()


class Sandbox:
    """One child interpreter running ``function(*args)`` requests (``function``: "module:name")."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        self._import_path: str = ""
        self._memory_bytes = 0
        # the child's descendants as last seen: a crashed child's orphans are killed from this list
        self._descendants: list[psutil.Process] = []
        _LIVE.add(self)

    @property
    def log_path(self) -> Path | None:
        """The running child's log (None when none runs)."""
        return self._log_path

    def start(self) -> None:
        """Start the child now if none runs (else the first :meth:`call` starts it): its interpreter start and
        imports (:data:`PRELOAD`) then overlap with whatever this process does before its first call."""
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def _start(self) -> subprocess.Popen:
        log_dir = Path(os.environ.get("MLIPSCOPE_SANDBOX_LOG_DIR") or tempfile.gettempdir())
        log_dir.mkdir(parents=True, exist_ok=True)
        _remove_orphaned_logs(log_dir)
        fd, name = tempfile.mkstemp(prefix=f"mlipscope-sandbox-{os.getpid()}-", suffix=".log", dir=log_dir)
        os.close(fd)
        self._log_path = Path(name)
        # the child imports what this process can (factories of ``module:function`` specs on a runtime sys.path)
        self._import_path = _import_path()
        self._memory_bytes = child_memory_bytes()
        env = {**single_thread_env(), "PYTHONPATH": self._import_path, MEMORY_ENV: str(self._memory_bytes)}
        with open(self._log_path, "ab") as log:  # appending: a cut of the log by the parent leaves no hole
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "mlipscope.runner.sandbox_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,  # its own process group: a kill takes LAMMPS/MPI helpers with it
            )
        self._descendants = []
        return self._proc

    def call(
        self,
        function: str,
        args: tuple,
        *,
        timeout_s: float | None,
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> Any:
        """Run ``function(*args)`` in the child; its return value, or :class:`SandboxCrash` with the reason.
        ``on_progress``: gets what the function reports (:func:`mlipscope.properties.progress.report_progress`)
        while it runs."""
        if self._proc is not None and (
            self._import_path != _import_path() or self._memory_bytes != child_memory_bytes()
        ):
            self.close()  # the child imports more (or less) than this process, or has another limit: replace it
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        fd = proc.stdout.fileno()
        try:
            _write_message(proc.stdin, (function, args, on_progress is not None), _request_dispatch_table())
            message = self._receive(fd, deadline)
            while message is not None and message[0] == "progress":  # sent only when asked for
                on_progress(*message[1])
                message = self._receive(fd, deadline)
        except TimeoutError:
            self.kill()
            reason = f"timeout: killed after the hard limit of {timeout_s:g} s"
            raise SandboxCrash(FailureKind.TIMEOUT, reason) from None
        except (BrokenPipeError, OSError):
            message = None
        except BaseException:  # stopped mid-call (Ctrl-C, a memory kill): what the child is doing is unknown
            self.kill()
            raise
        if message is None:
            raise self._crashed(proc)
        trim_log(self._log_path)
        status, payload = message
        if status != "ok":
            kind, reason = payload
            raise SandboxCrash(FailureKind(kind), reason)
        return payload

    def _receive(self, fd: int, deadline: float | None) -> tuple[str, Any] | None:
        """The child's next message (status, payload); None when its output ended."""
        header = _read_exact(fd, _HEADER.size, deadline, self._watch)
        body = None if header is None else _read_exact(fd, _HEADER.unpack(header)[0], deadline, self._watch)
        return None if body is None else pickle.loads(body)

    def _watch(self) -> None:
        """While waiting: cut the log, note the child's descendants, and kill the child when its processes together
        hold more memory than its limit."""
        if self._log_path is not None:
            trim_log(self._log_path)
        try:
            child = psutil.Process(self._proc.pid)
            self._descendants = child.children(recursive=True)
            used = 0
            for proc in [child, *self._descendants]:
                with contextlib.suppress(psutil.Error):
                    used += proc.memory_info().rss
        except psutil.Error:
            return  # it is gone: the read sees the end of its output next
        if used > self._memory_bytes:
            self.kill()
            detail = f"the evaluation's processes held {used / _GIB:.2f} GiB, over the limit of "
            raise SandboxCrash(FailureKind.OUT_OF_MEMORY, out_of_memory_reason(detail + self._limit_text()))

    def _limit_text(self) -> str:
        return f"{self._memory_bytes / _GIB:.2f} GiB ({MEMORY_ENV})"

    def _crashed(self, proc: subprocess.Popen) -> SandboxCrash:
        """The failure of a child that died on its own (its orphans are killed, its log removed)."""
        code = proc.wait()
        _kill_processes(self._descendants)
        tail = self._log_tail()
        self._forget()
        what = f"signal {-code}" if code < 0 else f"exit code {code}"
        if any(marker in tail for marker in _OUT_OF_MEMORY_MARKERS):
            detail = f"the evaluation child died ({what}) after an allocation failed, limit {self._limit_text()}"
            return SandboxCrash(FailureKind.OUT_OF_MEMORY, out_of_memory_reason(detail + tail)[:500])
        return SandboxCrash(FailureKind.CRASHED, f"crashed ({what}){tail}")

    def _log_tail(self) -> str:
        try:
            text = self._log_path.read_text(errors="replace").strip() if self._log_path else ""
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()][-3:]
        return (": " + " | ".join(lines))[:400] if lines else ""

    def _forget(self) -> None:
        """No child any more: remove its log."""
        self._proc = None
        self._descendants = []
        if self._log_path is not None:
            with contextlib.suppress(OSError):
                self._log_path.unlink()
            self._log_path = None

    def kill(self) -> None:
        """Kill the child, its process group and every process it started (also those with a session of their
        own: listed before the kill, as they are re-parented after it)."""
        if self._proc is None:
            return
        with contextlib.suppress(psutil.Error):
            self._descendants = psutil.Process(self._proc.pid).children(recursive=True)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        _kill_processes(self._descendants)
        self._proc.wait()
        self._forget()

    def close(self) -> None:
        """End the child (it stops when its stdin closes), then whatever it left running."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                self._descendants = psutil.Process(self._proc.pid).children(recursive=True)
            try:
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        if self._proc is not None:
            _kill_processes(self._descendants)
        self._forget()


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


@atexit.register
def _close_all() -> None:
    """At interpreter exit: end every child and remove its log."""
    for sandbox in list(_LIVE):
        with contextlib.suppress(Exception):
            sandbox.close()


def run_isolated(
    function: str,
    args: tuple,
    time_limit_s: float | None,
    on_crash: Callable[[FailureKind, str, float], Any],
    isolate: bool = True,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """``function`` ("module:name") applied to ``args`` in this worker's sandbox child, with the task's hard limit;
    a crash, kill, timeout or memory overrun gives ``on_crash(kind, reason, elapsed_s)`` instead (the failed
    evaluations to store). ``isolate=False`` runs it in this process. ``on_progress(unit, done, total)``: what the
    function reports while it runs (:mod:`mlipscope.properties.progress`)."""
    import importlib

    if not isolate:
        from mlipscope.properties.progress import progress_reporter

        module_name, _, name = function.partition(":")
        with progress_reporter(on_progress):
            return getattr(importlib.import_module(module_name), name)(*args)
    start = time.perf_counter()
    try:
        return worker_sandbox().call(function, args, timeout_s=hard_limit_s(time_limit_s), on_progress=on_progress)
    except SandboxCrash as crash:
        return on_crash(crash.kind, crash.reason, time.perf_counter() - start)
