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


class BenchmarkProgress:
    """``mlipscope benchmark``'s progress on stderr: a bar over the properties and one inside the running property
    (e.g. frames done / total), and a line per finished property with its elapsed time (also to the log). When
    stderr is not a terminal the bars are left out and a long property gets a plain line every ``interval_s``."""

    def __init__(
        self, n_properties: int, console: Console | None = None, interval_s: float = DEFAULT_INTERVAL_S
    ) -> None:
        self.console = console or Console(stderr=True)
        self.plain = not self.console.is_terminal
        self.interval_s = interval_s
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=self.plain,
        )
        self._n_properties = n_properties
        self._overall = self.progress.add_task("benchmark", total=max(n_properties, 1), count="")
        self._inside = self.progress.add_task("", total=None, count="", visible=False)
        self._finished = 0
        self._label = ""
        self._started = self._last_line = time.monotonic()

    def __enter__(self) -> BenchmarkProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def inside(self, label: str, unit: str, done: int, total: int) -> None:
        """Progress of the running property ``label`` (``done == total == 0``: it starts)."""
        now = time.monotonic()
        if label != self._label:  # it starts: its bar's clock too
            self._label, self._started, self._last_line = label, now, now
            self.progress.reset(self._inside, total=None, description=label, count="", visible=True)
        shown = total > 0
        count = f"{done}/{total} {unit}" if shown else ""
        self.progress.update(
            self._inside, description=label, completed=done, total=total if shown else None, count=count, visible=True
        )
        if shown and now - self._last_line >= self.interval_s:
            self._last_line = now
            text = f"{label}: {done}/{total} {unit} · {_duration(now - self._started)} elapsed"
            log.info(text)
            if self.plain:
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def finished(self, label: str, status: str | None) -> None:
        """``label`` is stored (``status`` "ok" / "failed"), or was stored before (None): one line, bar advanced."""
        now = time.monotonic()
        elapsed = now - self._started  # since it started, or since the one before it finished
        took = f"{elapsed:.1f} s" if elapsed < 60 else _duration(elapsed)
        text = f"{label}: already stored" if status is None else f"{label}: {status} in {took}"
        log.info(text)
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self._finished += 1
        self.progress.update(self._overall, advance=1, count=f"{self._finished}/{self._n_properties} properties")
        self.progress.update(self._inside, visible=False)
        self._label, self._started = "", now
