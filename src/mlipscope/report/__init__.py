"""Static HTML report of an ensemble analysis: figures (matplotlib, PNG), tables (CSV) and the run's facts."""

from mlipscope.report.html import write_report

__all__ = ["write_report"]
