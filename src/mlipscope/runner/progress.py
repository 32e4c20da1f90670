"""Progress of the main job: done / failed / remaining counts and an ETA.

In a terminal the counts are live rich bars. When stderr is not a terminal (a batch job writing to a file: SLURM,
nohup, CI) rich bars would print nothing until the end, so a plain line per stage is printed every
``interval_s`` seconds instead. Either way the same lines go to the ``mlipscope.progress`` logger, i.e. to the
run's log file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

log = logging.getLogger("mlipscope.progress")

#: seconds between plain progress lines (batch mode, log file)
DEFAULT_INTERVAL_S = 30.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class RunProgress:
    """One bar per stage (fits, evaluations) with done / failed / remaining counts."""

    def __init__(
        self, console: Console | None = None, disable: bool = False, interval_s: float = DEFAULT_INTERVAL_S
    ) -> None:
        self.console = console or Console(stderr=True)
        #: plain lines instead of live bars: stderr is not a terminal
        self.plain = not self.console.is_terminal
        self.quiet = disable
        self.interval_s = interval_s
        self.progress = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            TextColumn("{task.fields[done]} done · [red]{task.fields[failed]} failed[/] · {task.fields[left]} left"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=disable or self.plain,
        )
        self._tasks: dict[str, int] = {}
        self._counts: dict[str, list[int]] = {}
        self._start = time.monotonic()
        self._last_line = self._start
        self._done_at_start: dict[str, int] = {}

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)
        self.emit_lines()

    def stage(self, name: str, total: int, already_done: int = 0) -> None:
        self._counts[name] = [already_done, 0, total]
        self._done_at_start[name] = already_done
        self._tasks[name] = self.progress.add_task(
            name,
            total=max(total, 1),
            completed=already_done,
            done=already_done,
            failed=0,
            left=total - already_done,
        )

    def add_total(self, name: str, extra: int) -> None:
        counts = self._counts[name]
        counts[2] += extra
        self._refresh(name)

    def advance(self, name: str, ok: bool) -> None:
        counts = self._counts[name]
        counts[0 if ok else 1] += 1
        self._refresh(name)

    def _refresh(self, name: str) -> None:
        done, failed, total = self._counts[name]
        self.progress.update(
            self._tasks[name],
            total=max(total, 1),
            completed=done + failed,
            done=done,
            failed=failed,
            left=total - done - failed,
        )
        if time.monotonic() - self._last_line >= self.interval_s:
            self.emit_lines()

    def tick(self) -> None:
        """Called while the run waits: a line is due every ``interval_s`` even when nothing finished."""
        if time.monotonic() - self._last_line >= self.interval_s:
            self.emit_lines()

    def line(self, name: str) -> str:
        """``evaluations: 120 done · 3 failed · 400 left · 5m02s elapsed · ETA 12m40s``"""
        done, failed, total = self._counts[name]
        elapsed = time.monotonic() - self._start
        left = total - done - failed
        finished_here = done + failed - self._done_at_start.get(name, 0)  # resumed work does not speed the ETA
        eta = _duration(elapsed / finished_here * left) if finished_here > 0 and left > 0 else "—"
        return (
            f"{name}: {done} done · {failed} failed · {left} left · {_duration(elapsed)} elapsed · ETA "
            f"{eta if left else '0m00s'}"
        )

    def emit_lines(self) -> None:
        """One progress line per stage: to the log, and to the console in batch mode."""
        self._last_line = time.monotonic()
        for name, (done, failed, total) in self._counts.items():
            if total == 0 and done + failed == 0:  # e.g. no fits in a run of existing potentials
                continue
            text = self.line(name)
            log.info(text)
            if self.plain and not self.quiet:
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def counts(self, name: str) -> tuple[int, int, int]:
        done, failed, total = self._counts[name]
        return done, failed, total


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Log the run (``mlipscope.*`` loggers at INFO, with timestamps) to ``path`` while it lasts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    package_log = logging.getLogger("mlipscope")
    old_level = package_log.level
    package_log.addHandler(handler)
    if package_log.getEffectiveLevel() > logging.INFO:
        package_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        package_log.removeHandler(handler)
        package_log.setLevel(old_level)
        handler.close()
