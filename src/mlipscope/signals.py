"""Ctrl-C and SIGTERM at the command line: the command stops where it is, what it stored stays stored, and the
user reads one line (no traceback from any process), exit 130 or 143.

Ctrl-C reaches every process of the terminal's process group: the CLI, its Dask workers, their helpers. Only the
CLI should act on it, so :func:`stop_cleanly` blocks SIGINT in the CLI's main thread: the threads and processes it
starts inherit the blocked mask (it survives ``fork`` and ``exec``), so a Ctrl-C leaves them alone and the CLI
tears them down in order (Python's multiprocessing resource tracker unblocks SIGINT in the thread that starts it,
so it is started first). A thread of the CLI waits for SIGINT (``sigtimedwait``) and wakes the main thread, where
:class:`Stopped` is raised (a ``BaseException``: the ``except Exception`` of error handling does not swallow it);
SIGTERM, which a process manager sends to one process, is handled in the main thread directly. A second signal
while the command winds down ends the process at once, with the same line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

#: exit status of a command stopped by a signal: 128 + the signal's number, as shells report it
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
#: libraries that log tracebacks of the tasks a stop cancels (Dask's nanny closing its worker, the event loop):
#: expected while stopping, so not shown once a stop began
QUIET_WHILE_STOPPING = ("distributed", "tornado", "asyncio")


class Stopped(BaseException):  # not an error: the user asked the command to stop
    """The command was asked to stop by ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {_NAMES.get(signum, signum)}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + self.signum)

    @property
    def signal_name(self) -> str:
        return _NAMES.get(self.signum, f"signal {self.signum}")


class _State:
    """What the handlers share: the first signal received (later ones end the process) and its message."""

    def __init__(self, describe: Callable[[Stopped], str]) -> None:
        self.describe = describe
        self.received: int | None = None
        self.waking = False  # the SIGTERM the main thread gets next is the waiter's wake-up for a SIGINT
        self.lock = threading.Lock()

    def first(self, signum: int) -> bool:
        """Record ``signum``; False when a signal was already received (then the process ends here)."""
        with self.lock:
            if self.received is None:
                self.received = signum
                return True
        stop = Stopped(self.received)
        print(self.describe(stop), file=sys.stderr, flush=True)
        os._exit(stop.exit_code)


@contextlib.contextmanager
def stop_cleanly(describe: Callable[[Stopped], str] = str, *, starts_processes: bool = False) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Stopped` in the main thread (see the module docstring).
    ``describe(stop)`` is the line printed if a second signal ends the process before the block unwinds;
    ``starts_processes``: the block starts Python worker processes (multiprocessing). Outside the main thread, or
    where signals cannot be masked, it does nothing."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "sigtimedwait"):
        yield
        return
    if starts_processes:
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()  # now, while SIGINT is not blocked: it unblocks it when it starts
    state = _State(describe)

    def on_signal(signum: int, frame: object) -> None:
        _quiet_libraries()
        if state.waking:  # the waiter's wake-up: stop with the SIGINT it received
            state.waking = False
            raise Stopped(state.received)
        if state.first(signum):
            raise Stopped(signum)

    previous_term = signal.signal(signal.SIGTERM, on_signal)
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    done = threading.Event()
    waiter = threading.Thread(target=_wait_for_sigint, args=(state, done), daemon=True, name="mlipscope-sigint")
    waiter.start()
    try:
        yield
    except KeyboardInterrupt:  # a SIGINT delivered to a thread that does not block it (one started before)
        _quiet_libraries()
        raise Stopped(signal.SIGINT) from None
    finally:
        done.set()  # not joined: it ends within its 0.2 s wait, and a command's end should not wait for it
        signal.signal(signal.SIGTERM, previous_term)
        if signal.SIGINT not in previous_mask:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _quiet_libraries() -> None:
    for name in QUIET_WHILE_STOPPING:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _wait_for_sigint(state: _State, done: threading.Event) -> None:
    """Take SIGINT off the process's pending signals and stop the main thread with it: a real signal (SIGTERM,
    handled there) also interrupts a blocking call the main thread may be in."""
    main = threading.main_thread().ident
    while not done.is_set():
        if signal.sigtimedwait({signal.SIGINT}, 0.2) is None:
            continue
        if done.is_set():  # the block ended meanwhile: the main thread takes SIGINT itself again
            os.kill(os.getpid(), signal.SIGINT)
            return
        if state.first(signal.SIGINT):
            state.waking = True
            signal.pthread_kill(main, signal.SIGTERM)


def stopped_message(stop: Stopped, stored_in: str | None) -> str:
    """The one line a stopped command prints: what is stored and how to go on."""
    if stored_in is None:
        return f"mlipscope: {stop} (exit {stop.exit_code})"
    return (
        f"mlipscope: {stop}: every result finished so far is stored in {stored_in}; "
        "run the same command again to resume where it stopped"
    )
