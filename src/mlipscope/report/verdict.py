"""Does my potential pass? The verdict of one model: each value against its acceptable error, and a summary.

Pure functions of the stored rows of one model (``store.evaluations()`` filtered to it) and the acceptable errors
of its suite (:func:`mlipscope.properties.acceptable_errors.acceptable_errors`: value name -> (error, source)). A
value is *within* when its absolute error is at most the acceptable error; a value without an acceptable error is
shown but not judged (and counted as such), a failed evaluation is counted as failed, never as within.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class VerdictRow:
    """One value of the model, judged: ``within`` is None when the value has no acceptable error."""

    name: str
    value: float
    reference: float
    unit: str
    absolute_error: float
    acceptable_error: float
    acceptable_error_source: str
    within: bool | None

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

    def summary_line(self) -> str:
        judged = self.judged
        text = f"{self.n_within} of {len(judged)} values within their acceptable errors"
        if len(self.rows) > len(judged):
            text += f" ({len(self.rows) - len(judged)} without an acceptable error, not judged)"
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
            "n_failed_evaluations": self.n_failed,
            "worst": [{"name": r.name, "miss_ratio": r.miss_ratio} for r in self.worst()],
            "summary": self.summary_line(),
        }


def verdict(rows: pd.DataFrame, acceptable: Mapping[str, tuple[float, str]]) -> Verdict:
    """The verdict of one model's stored rows (columns of ``store.evaluations()``)."""
    judged: list[VerdictRow] = []
    ok = rows[rows["status"] == "ok"]
    for r in ok.itertuples(index=False):
        threshold, source = acceptable.get(str(r.name), (math.nan, ""))
        error = float(r.absolute_error) if r.absolute_error is not None else math.nan
        within = None if not math.isfinite(threshold) else bool(math.isfinite(error) and error <= threshold)
        judged.append(
            VerdictRow(str(r.name), _float(r.value), _float(r.reference), str(r.unit), error, threshold, source, within)
        )
    n_failed = int(rows.loc[rows["status"] != "ok", "property_label"].nunique())
    return Verdict(judged, n_failed)


def row_dict(row: VerdictRow) -> dict[str, Any]:
    """A row for JSON output (NaN as None)."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(row).items()}


def _float(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan
