"""The sandbox child (:mod:`mlipscope.runner.sandbox` is the parent's side): it reads length-prefixed pickled
requests ``(function, args, wants_progress)`` on stdin, runs them and writes their results on a private copy of its
stdout, until stdin closes. It ignores Ctrl-C (the parent's to handle), applies the parent's memory limit, adopts
orphaned descendants, ends itself and what it started when its parent dies, and imports what evaluations need
(:data:`~mlipscope.runner.sandbox.PRELOAD`) before its first request.

    python -m mlipscope.runner.sandbox_child     (started by :class:`~mlipscope.runner.sandbox.Sandbox`)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import sys
import time
from typing import Any

import psutil

from mlipscope.failures import FailureKind, is_out_of_memory, kind_of_exception, out_of_memory_reason
from mlipscope.runner.child_memory import MEMORY_ENV, child_memory_bytes
from mlipscope.runner.sandbox import _GIB, _HEADER, PRELOAD, _kill_processes, _write_message


def _exit_with_parent(poll_s: float = 1.0) -> None:
    """End this child when its parent dies (it runs in its own session, so a kill of the parent's process group
    does not reach it, and a hung calculator would never read the closed stdin), and with it every process it
    started: a fit's trainer in an environment of its own would otherwise train on for an hour with no one to
    read its result."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent:
                _end_started_processes()
                os._exit(0)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def _limit_own_memory() -> None:
    """Apply the parent's memory limit to this process (and what it starts: limits are inherited)."""
    import resource

    limit = child_memory_bytes()
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _adopt_orphans() -> None:
    """Become the reaper of orphaned descendants (Linux): a grandchild whose parent dies stays in this process's
    tree, where the parent's kill finds it."""
    import ctypes

    pr_set_child_subreaper = 36
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, 1, 0, 0, 0)


def _run_request(request: bytes, channel) -> tuple[str, Any]:
    import importlib

    from mlipscope.properties.progress import progress_reporter

    try:
        function, args, wants_progress = pickle.loads(request)
        module_name, _, name = function.partition(":")
        report = (lambda *progress: _write_message(channel, ("progress", progress))) if wants_progress else None
        with progress_reporter(report):
            return "ok", getattr(importlib.import_module(module_name), name)(*args)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, the child stays up
        kind = kind_of_exception(exc)
        reason = f"{type(exc).__name__} in the evaluation child: {exc}"
        if is_out_of_memory(exc):
            reason = out_of_memory_reason(f"{reason} (limit {child_memory_bytes() / _GIB:.2f} GiB, {MEMORY_ENV})")
        return "error", (kind.value, reason[:500])


def _preload() -> None:
    import importlib

    module_name, _, name = PRELOAD.partition(":")
    with contextlib.suppress(Exception):
        getattr(importlib.import_module(module_name), name)()


def serve() -> None:
    """The child's loop: read (function, args), run it, write its result, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: no traceback from here
    _limit_own_memory()
    _adopt_orphans()
    _exit_with_parent()
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed from here on goes to the log, not into the result channel
    _preload()
    stdin = sys.stdin.buffer
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        result = _run_request(stdin.read(_HEADER.unpack(header)[0]), channel)
        try:
            _write_message(channel, result)
        except MemoryError:  # the result itself does not fit: say so instead
            _write_message(channel, ("error", (FailureKind.OUT_OF_MEMORY.value, out_of_memory_reason("the result"))))


def _end_started_processes() -> None:
    """Kill every process this child started that still runs (also those in a session of their own, and orphans
    it adopted): its parent may be dead and unable to do it."""
    with contextlib.suppress(psutil.Error):
        _kill_processes(psutil.Process().children(recursive=True))


def _exit_now() -> None:
    """End the child, and what it started, without the interpreter's teardown (unloading numpy, ASE, LAMMPS:
    ~0.1 s the parent waits for at its own exit): the results went out with each request, and the log is flushed
    here. Its stdin closed: the parent closed the sandbox, or died. The exit handlers run first: they end the
    calculators' own children cleanly (:class:`~mlipscope.models.worker.SubprocessCalculator`) and remove their
    logs; whatever is left is killed."""
    atexit._run_exitfuncs()
    _end_started_processes()
    for stream in (sys.stdout, sys.stderr):  # both point at the log here
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    serve()
    _exit_now()
