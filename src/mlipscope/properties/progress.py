"""Progress inside one property computation (e.g. frames done / total), for whoever runs the property to show.

A long property (a 100-frame rare-event set with a foundation model, a long MD run) would otherwise say nothing
until it ends. A property calls :func:`report_progress` as it goes; the caller that wants to show it installs a
callback with :func:`progress_reporter` around ``prop.compute`` (the runner does, also across the sandbox child's
pipe). Without one, :func:`report_progress` does nothing, so properties never need to know who listens.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

#: ``callback(unit, done, total)``: e.g. ``("frames", 40, 100)``
ProgressCallback = Callable[[str, int, int], None]

_REPORTER: ContextVar[_Throttled | None] = ContextVar("mlipscope_progress_reporter", default=None)


class _Throttled:
    """Calls ``callback`` at most every ``min_interval_s`` (and always at the end: done == total)."""

    def __init__(self, callback: ProgressCallback, min_interval_s: float) -> None:
        self.callback = callback
        self.min_interval_s = min_interval_s
        self._last = -float("inf")

    def __call__(self, unit: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= self.min_interval_s:
            self._last = now
            self.callback(unit, done, total)


@contextlib.contextmanager
def progress_reporter(callback: ProgressCallback | None, min_interval_s: float = 0.5) -> Iterator[None]:
    """Send the :func:`report_progress` calls made inside this block to ``callback``, at most every
    ``min_interval_s`` seconds plus the final one (None: leave whatever receives them now)."""
    if callback is None:
        yield
        return
    token = _REPORTER.set(_Throttled(callback, min_interval_s))
    try:
        yield
    finally:
        _REPORTER.reset(token)


def report_progress(unit: str, done: int, total: int) -> None:
    """``done`` of ``total`` ``unit`` (e.g. ``"frames"``) of the running property are finished."""
    reporter = _REPORTER.get()
    if reporter is not None:
        reporter(unit, int(done), int(total))
