"""Static HTML report of an ensemble analysis: figures (matplotlib, PNG), tables (CSV) and the run's facts."""

from __future__ import annotations

from typing import Any

__all__ = ["write_report"]


def __getattr__(name: str) -> Any:
    # imported on first use: ``mlipscope benchmark`` imports the verdict module of this package, not matplotlib
    if name == "write_report":
        from mlipscope.report.html import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
