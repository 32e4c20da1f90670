"""``mlipscope benchmark``'s progress (:class:`BenchmarkProgress`) without a terminal: a line per finished
property with the time it took, and inside a long property a line every interval with its frames done / total."""

from __future__ import annotations

import io
import types

from rich.console import Console

from mlipscope.runner import progress as progress_module
from mlipscope.runner.progress import BenchmarkProgress


def test_lines_per_property_with_elapsed_time_and_inside_a_long_one(monkeypatch):
    clock = types.SimpleNamespace(now=100.0)
    monkeypatch.setattr(progress_module, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with BenchmarkProgress(3, console, interval_s=30.0) as progress:
        progress.finished("eos", None)  # stored by an earlier run
        progress.inside("re_vacancy", "", 0, 0)  # starts
        clock.now += 10.0
        progress.inside("re_vacancy", "frames", 16, 100)  # within the interval: no line yet
        clock.now += 25.0
        progress.inside("re_vacancy", "frames", 48, 100)
        clock.now += 40.0
        progress.inside("re_vacancy", "frames", 100, 100)
        clock.now += 1.0
        progress.finished("re_vacancy", "ok")
        progress.inside("vacancy_64", "", 0, 0)
        clock.now += 2.5
        progress.finished("vacancy_64", "failed")
    lines = out.getvalue().splitlines()
    assert lines == [
        "eos: already stored",
        "re_vacancy: 48/100 frames · 0m35s elapsed",
        "re_vacancy: 100/100 frames · 1m15s elapsed",
        "re_vacancy: ok in 1m16s",
        "vacancy_64: failed in 2.5 s",
    ]
