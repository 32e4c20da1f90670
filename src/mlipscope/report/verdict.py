"""Does my potential pass? The verdict of one model: each value against its acceptable error, and a summary.

Pure functions of the stored rows of one model (``store.evaluations()`` filtered to it) and the acceptable errors
of its suite (:func:`mlipscope.properties.acceptable_errors.acceptable_errors`: value name -> (error, source)). A
value is *within* when its absolute error is at most the acceptable error; a value without a reference or without an
acceptable error is shown but not judged (and counted as such), a failed evaluation is counted as failed, never as
within. ``mlipscope benchmark`` prints the verdict, ``analyze --db`` on a few models shows it per model
(:mod:`mlipscope.report.single_model`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class VerdictRow:
    """One value of the model, judged: ``within`` is None when the value has no reference or no acceptable error."""

    name: str
    value: float
    reference: float
    unit: str
    absolute_error: float
    acceptable_error: float
    acceptable_error_source: str
    within: bool | None
    reference_source: str = ""
    property_label: str = ""

    @property
    def has_reference(self) -> bool:
        return math.isfinite(self.reference)

    @property
    def status(self) -> str:
        """The verdict in words: within, outside (2.5× the acceptable error), no reference or no acceptable error."""
        if self.within is None:
            return "no reference" if not self.has_reference else "no acceptable error"
        if self.within:
            return "within"
        ratio = self.miss_ratio
        return f"outside ({ratio:.3g}× the acceptable error)" if math.isfinite(ratio) else "outside"

    @property
    def miss_ratio(self) -> float:
        """|error| / acceptable error (above 1: outside; NaN when not judged)."""
        if self.within is None or not self.acceptable_error > 0:
            return math.nan
        return self.absolute_error / self.acceptable_error


@dataclass(frozen=True)
class Verdict:
    rows: list[VerdictRow]
    n_failed: int  # failed evaluations (no values)

    @property
    def judged(self) -> list[VerdictRow]:
        return [r for r in self.rows if r.within is not None]

    @property
    def n_within(self) -> int:
        return sum(bool(r.within) for r in self.rows)

    def worst(self, n: int = 3) -> list[VerdictRow]:
        """The ``n`` values furthest outside their acceptable errors (largest |error| / acceptable error)."""
        outside = [r for r in self.judged if not r.within]
        return sorted(outside, key=lambda r: -r.miss_ratio if math.isfinite(r.miss_ratio) else -math.inf)[:n]

    @property
    def n_without_reference(self) -> int:
        return sum(not r.has_reference for r in self.rows)

    @property
    def n_without_acceptable_error(self) -> int:
        """Values with a reference but no acceptable error."""
        return sum(r.within is None and r.has_reference for r in self.rows)

    def summary_line(self) -> str:
        judged = self.judged
        text = f"{self.n_within} of {len(judged)} values within their acceptable errors"
        missing = [
            f"{n} without {what}"
            for n, what in ((self.n_without_reference, "a reference"),
                            (self.n_without_acceptable_error, "an acceptable error"))
            if n
        ]  # fmt: skip
        if missing:
            text += f" ({', '.join(missing)}: not judged)"
        if self.n_failed:
            text += f"; {self.n_failed} evaluation(s) failed"
        worst = self.worst()
        if worst:
            text += "; worst: " + ", ".join(f"{r.name} {r.miss_ratio:.3g}× its acceptable error" for r in worst)
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_values": len(self.rows),
            "n_judged": len(self.judged),
            "n_within": self.n_within,
            "n_without_reference": self.n_without_reference,
            "n_without_acceptable_error": self.n_without_acceptable_error,
            "n_failed_evaluations": self.n_failed,
            "worst": [{"name": r.name, "miss_ratio": r.miss_ratio} for r in self.worst()],
            "summary": self.summary_line(),
        }


def verdict(rows: pd.DataFrame | Iterable[Mapping[str, Any]], acceptable: Mapping[str, tuple[float, str]]) -> Verdict:
    """The verdict of one model's stored rows (columns of ``store.evaluations()`` or ``store.records()``, as a frame
    or as dicts: :meth:`~mlipscope.store.duckdb_reads.DuckDBReads.evaluation_rows`; the latest evaluation of each
    property only). A value without a reference is not judged: its error is unknown."""
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    judged: list[VerdictRow] = []
    for r in records:
        if r["status"] != "ok" or not _text(r.get("name")):
            continue
        threshold, source = acceptable.get(str(r["name"]), (math.nan, ""))
        error, reference = _float(r["absolute_error"]), _float(r["reference"])
        known = math.isfinite(threshold) and math.isfinite(reference)
        within = bool(math.isfinite(error) and error <= threshold) if known else None
        extra = (_text(r.get("reference_source", "")), _text(r.get("property_label", "")))
        judged.append(
            VerdictRow(
                str(r["name"]), _float(r["value"]), reference, str(r["unit"]), error, threshold, source, within, *extra
            )  # fmt: skip
        )
    n_failed = len({r["property_label"] for r in records if r["status"] != "ok"})
    return Verdict(judged, n_failed)


def row_dict(row: VerdictRow) -> dict[str, Any]:
    """A row for JSON output (NaN as None)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(row).items()}


def _text(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan
