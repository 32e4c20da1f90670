"""Where a run stands, from its results database: fits and evaluations done / failed / remaining against the run
plan the runner recorded (:meth:`~mlipscope.store.duckdb_store.ResultsStore.record_run_plan`), and the failure
reasons grouped. ``mlipscope status --db`` prints it; it works while the run writes (it reads the snapshot then).

A planned evaluation is *done* or *failed* when an evaluation for it is stored (with its config hash when the plan
knows it, else the latest of that model and label); one stored before the plan was recorded counts only when the
run does not evaluate it again (ok, or a failure that is deterministic or out of attempts, as
:meth:`~mlipscope.store.duckdb_store.ResultsStore.needs_evaluation` decides). Evaluations of a model whose fit
failed are *not run*. Everything else *remains*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlipscope.failures import kind_of_legacy_reason, stored_or_legacy_kind
from mlipscope.store.protocol import ResultStore, Status, StoredState, needs_evaluation

if TYPE_CHECKING:
    import pandas as pd

#: the columns that key an evaluation
KEY_COLUMNS = ("model_id", "property_label", "config_hash")
_EVALUATION_FIELDS = ("status", "failure_kind", "reason", "wall_time_s", "attempts", "created")
#: the columns of :func:`failures_table`
FAILURE_COLUMNS = (
    "model_id", "family", "property_label", "config_hash", "failure_kind", "reason", "wall_time_s", "attempts",
    "created",
)  # fmt: skip

#: the first this many characters of a reason (without its " (at file:line)" tail) group failures
REASON_CHARS = 100


def short_reason(reason: str) -> str:
    """The part of a failure reason that groups failures: first line, no location, at most REASON_CHARS."""
    first = (reason or "").strip().splitlines()[0] if (reason or "").strip() else "(no reason)"
    return first.split(" (at ")[0][:REASON_CHARS]


@dataclass
class RunStatus:
    """What :func:`compute_status` found. Counts are of evaluations (``evaluations``) and models (``models``)."""

    source: str
    note: str = ""
    snapshot_age_s: float | None = None  # None: read from the database itself
    plan_name: str | None = None
    plan_recorded_at: str | None = None
    models: dict[str, int] = field(default_factory=dict)
    evaluations: dict[str, int] = field(default_factory=dict)
    failure_reasons: list[dict[str, Any]] = field(default_factory=list)
    rate_per_min: float | None = None
    eta_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """Plain-text report, a line each."""
        out = [f"database: {self.note or self.source}"]
        if self.plan_recorded_at is None:
            out.append("no run plan recorded (counts are of what is stored; 'remaining' is unknown)")
        else:
            out.append(f"run plan: {self.plan_name or '(unnamed)'}, recorded {self.plan_recorded_at}")
        out.append("models:      " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.models.items()))
        out.append("evaluations: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in self.evaluations.items()))
        if self.rate_per_min is not None:
            eta = "" if self.eta_s is None else f", about {duration_text(self.eta_s)} to go"
            out.append(f"rate: {self.rate_per_min:.3g} evaluations/min stored since the plan{eta}")
        if self.failure_reasons:
            out.append("failure reasons (count, stage, kind, reason):")
            out += [f"  {r['count']:6d}  {r['stage']}  [{r['kind']}]  {r['reason']}" for r in self.failure_reasons]
        return out


def duration_text(seconds: float) -> str:
    """A duration for people: seconds below 2 min, minutes below 2 h, else hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def compute_status(
    store: ResultStore, *, source: str | Path | None = None, note: str = "", snapshot_age_s: float | None = None
) -> RunStatus:
    """The status of ``store`` (any :class:`~mlipscope.store.protocol.ResultStore`), from its records, models,
    plan and the ``plan_*`` meta entries; ``source`` (default: the store's path) names it in the report."""
    import pandas as pd

    status = RunStatus(source=str(store.path if source is None else source), note=note, snapshot_age_s=snapshot_age_s)
    evaluations = _evaluation_rows(store.records())
    models = store.models()
    recorded_at = store.get_meta("plan_recorded_at")
    if recorded_at is None:
        return _stored_only(evaluations, models, status)
    status.plan_name = store.get_meta("plan_name") or ""
    status.plan_recorded_at = recorded_at
    planned_at = pd.Timestamp(dt.datetime.fromisoformat(recorded_at))
    max_attempts = int(store.get_meta("plan_max_attempts") or "2")
    retry_failed = (store.get_meta("plan_retry_failed") or "false") == "true"
    plan = store.plan()
    by_model = models.set_index("model_id") if len(models) else None
    reasons: dict[tuple[str, str, str], int] = {}
    status.models = _plan_models(plan, by_model, reasons)

    # planned evaluations with their stored one: by full key when the plan has the hash, else the latest
    rows = _planned_with_stored(plan, evaluations)
    model_status = rows["model_id"].map(by_model["status"]) if by_model is not None else None
    rows["model_status"] = "" if model_status is None else model_status.fillna("").astype(object)
    rows["reason"] = rows["reason"].fillna("").astype(object)
    rows["attempts"] = rows["attempts"].fillna(1).astype(int)
    rows["created"] = pd.to_datetime(rows["created"], utc=True)
    rows["before_plan"] = (rows["created"] < planned_at).astype(bool)
    columns = ["model_status", "status", "property_label", "reason", "attempts", "failure_kind", "before_plan"]
    groups = rows.assign(status=rows["status"].astype(object), failure_kind=rows["failure_kind"].astype(object))
    groups = groups.groupby(columns, dropna=False, sort=False)["created"].agg(["size", "max"]).reset_index()
    counts = {"planned": 0, "done": 0, "failed": 0, "remaining": 0, "not_run_fit_failed": 0}
    n_new, last_new = 0, planned_at  # stored since the plan: the rate
    for model_state, ev_status, label, reason, attempts, stored_kind, before_plan, n, last_created in groups.itertuples(
        index=False, name=None
    ):
        n = int(n)
        counts["planned"] += n
        if model_state == "failed":
            state = "not_run_fit_failed"
        elif not isinstance(ev_status, str):
            state = "remaining"
        elif not before_plan:
            state = "done" if ev_status == "ok" else "failed"
            n_new, last_new = n_new + n, max(last_new, last_created)
        elif ev_status == "ok":
            state = "done"
        else:  # a failure from an earlier run: the run evaluates it again when it is retried
            stored = StoredState(Status.FAILED, stored_or_legacy_kind(stored_kind, reason), attempts)
            rerun = needs_evaluation(stored, max_attempts=max_attempts, retry_failed=retry_failed)
            state = "remaining" if rerun else "failed"
        counts[state] += n
        if state == "failed":
            key = (label, short_reason(reason), stored_or_legacy_kind(stored_kind, reason).group)
            reasons[key] = reasons.get(key, 0) + n
    status.evaluations = counts
    status.failure_reasons = _grouped(reasons)
    # the rate up to now while work remains (a stalled run shows a falling rate), else up to the last result
    until = pd.Timestamp.now(tz="UTC") if counts["remaining"] else last_new
    elapsed_s = (until - planned_at).total_seconds()
    if n_new and elapsed_s > 0:
        status.rate_per_min = 60.0 * n_new / elapsed_s
        status.eta_s = counts["remaining"] / (n_new / elapsed_s) if counts["remaining"] else None
    return status


def _evaluation_rows(records: pd.DataFrame) -> pd.DataFrame:
    """One row per stored evaluation (the long form has one per value), oldest first."""
    return records.drop_duplicates(list(KEY_COLUMNS))[[*KEY_COLUMNS, *_EVALUATION_FIELDS]].reset_index(drop=True)


def _latest(evaluations: pd.DataFrame) -> pd.DataFrame:
    """The latest evaluation of each (model, property label): the last of the oldest-first rows."""
    return evaluations.drop_duplicates(["model_id", "property_label"], keep="last")


def _plan_models(
    plan: pd.DataFrame, by_model: pd.DataFrame | None, reasons: dict[tuple[str, str, str], int]
) -> dict[str, int]:
    """Models of the plan: ready (fitted or external), fit failed, still to fit; fit failures into ``reasons``."""
    import pandas as pd

    ids = pd.unique(plan["model_id"])
    known = (
        by_model.reindex(ids)
        if by_model is not None
        else pd.DataFrame(index=ids, columns=["status", "family", "reason"])
    )
    counts = {"planned": len(ids), "ready": 0, "fit_failed": 0, "to_fit": 0}
    for model_status, n in known["status"].value_counts(dropna=False).items():
        counts[{"ok": "ready", "failed": "fit_failed"}.get(model_status, "to_fit")] += int(n)
    failed = known[known["status"] == "failed"]
    _add_fit_failures(failed["family"], failed["reason"], reasons)
    return counts


def _planned_with_stored(plan: pd.DataFrame, evaluations: pd.DataFrame) -> pd.DataFrame:
    """Each plan row with the fields of the stored evaluation it counts (none: null fields)."""
    import pandas as pd

    by_hash = plan["config_hash"].notna()
    exact = plan[by_hash].merge(evaluations, on=list(KEY_COLUMNS), how="left")
    loose = plan[~by_hash].drop(columns="config_hash")
    loose = loose.merge(_latest(evaluations).drop(columns="config_hash"), on=["model_id", "property_label"], how="left")
    return pd.concat([exact.drop(columns="config_hash"), loose], ignore_index=True)


def _add_fit_failures(
    families: Iterable[Any], fit_reasons: Iterable[Any], reasons: dict[tuple[str, str, str], int]
) -> None:
    for family, reason in zip(families, fit_reasons, strict=True):
        family, reason = _text(family), _text(reason)
        key = (f"fit ({family})", short_reason(reason), kind_of_legacy_reason(reason).group)
        reasons[key] = reasons.get(key, 0) + 1


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _stored_only(evaluations: pd.DataFrame, models: pd.DataFrame, status: RunStatus) -> RunStatus:
    """No plan: the latest evaluation of each (model, label) stored, and the models."""
    n_ok, n_failed = int((models["status"] == "ok").sum()), int((models["status"] == "failed").sum())
    status.models = {"stored": n_ok + n_failed, "ready": n_ok, "fit_failed": n_failed}
    counts = {"stored": 0, "done": 0, "failed": 0}
    reasons: dict[tuple[str, str, str], int] = {}
    for ev_status, label, reason, stored_kind in _latest(evaluations)[
        ["status", "property_label", "reason", "failure_kind"]
    ].itertuples(index=False, name=None):
        counts["stored"] += 1
        counts["done" if ev_status == "ok" else "failed"] += 1
        if ev_status != "ok":
            reason = _text(reason)
            key = (label, short_reason(reason), stored_or_legacy_kind(stored_kind, reason).group)
            reasons[key] = reasons.get(key, 0) + 1
    failed = models[models["status"] == "failed"]
    _add_fit_failures(failed["family"], failed["reason"], reasons)
    status.evaluations = counts
    status.failure_reasons = _grouped(reasons)
    return status


def failures_table(records: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Failed evaluations (from a store's ``records()``) with their model's family, kinds, reasons and attempts,
    oldest first (failed fits are the ``models`` with status ``failed``)."""
    import pandas as pd

    failed = _evaluation_rows(records)
    failed = failed[failed["status"] == "failed"].drop(columns="status")
    families = models[["model_id", "family"]] if len(models) else pd.DataFrame({"model_id": [], "family": []})
    table = failed.merge(families, on="model_id", how="left")
    return table[list(FAILURE_COLUMNS)]


def _grouped(reasons: dict[tuple[str, str, str], int]) -> list[dict[str, Any]]:
    rows = [
        {"stage": stage, "reason": reason, "kind": kind, "count": n} for (stage, reason, kind), n in reasons.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["stage"], r["reason"]))
