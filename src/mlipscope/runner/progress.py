"""Live progress for the main job: done / failed / remaining counts and an ETA (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RunProgress:
    """One bar per stage (fits, evaluations) with done / failed / remaining counts."""

    def __init__(self, console: Console | None = None, disable: bool = False) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            TextColumn("{task.fields[done]} done · [red]{task.fields[failed]} failed[/] · {task.fields[left]} left"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            disable=disable,
        )
        self._tasks: dict[str, int] = {}
        self._counts: dict[str, list[int]] = {}

    def __enter__(self) -> RunProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def stage(self, name: str, total: int, already_done: int = 0) -> None:
        self._counts[name] = [already_done, 0, total]
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

    def counts(self, name: str) -> tuple[int, int, int]:
        done, failed, total = self._counts[name]
        return done, failed, total
