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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from mlipscope.failures import kind_of_legacy_reason, stored_or_legacy_kind

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


def failure_kind_column(con: duckdb.DuckDBPyConnection, table: str = "") -> str:
    """SQL for ``evaluations.failure_kind`` (``table``: its alias in the query), or NULL in a schema-1 file read
    as it is (no such column: :func:`~mlipscope.failures.stored_or_legacy_kind` then reads the reason)."""
    found = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'evaluations' "
        "AND column_name = 'failure_kind'"
    ).fetchone()[0]
    return f"{table + '.' if table else ''}failure_kind" if found else "NULL::VARCHAR"


def _meta(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta WHERE key LIKE 'plan_%'").fetchall())


def _has_plan_table(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'run_plan'").fetchall()
    return bool(rows[0][0])


def compute_status(
    con: duckdb.DuckDBPyConnection, *, source: str | Path, note: str = "", snapshot_age_s: float | None = None
) -> RunStatus:
    """The status of the database behind ``con`` (aggregated in SQL: a few small result sets even for 10⁶ tasks)."""
    status = RunStatus(source=str(source), note=note, snapshot_age_s=snapshot_age_s)
    meta = _meta(con)
    if not _has_plan_table(con) or "plan_recorded_at" not in meta:
        return _stored_only(con, status)
    status.plan_name = meta.get("plan_name", "")
    status.plan_recorded_at = meta["plan_recorded_at"]
    planned_at = dt.datetime.fromisoformat(meta["plan_recorded_at"])
    max_attempts = int(meta.get("plan_max_attempts", "2"))
    retry_failed = meta.get("plan_retry_failed", "false") == "true"

    # models of the plan: ready (fitted or external), fit failed, still to fit
    fits = con.execute(
        """SELECT m.status, coalesce(m.family, '') AS family, coalesce(m.reason, '') AS reason, count(*) AS n
           FROM (SELECT DISTINCT model_id FROM run_plan) p LEFT JOIN models m USING (model_id) GROUP BY ALL"""
    ).fetchall()
    status.models = {"planned": sum(n for *_, n in fits), "ready": 0, "fit_failed": 0, "to_fit": 0}
    reasons: dict[tuple[str, str, str], int] = {}
    for model_status, family, reason, n in fits:
        state = {"ok": "ready", "failed": "fit_failed"}.get(model_status, "to_fit")
        status.models[state] += n
        if model_status == "failed":
            key = (f"fit ({family})", short_reason(reason), kind_of_legacy_reason(reason).group)
            reasons[key] = reasons.get(key, 0) + n

    # planned evaluations joined with their stored one: by full key when the plan has the hash, else the latest
    kind, e_kind = failure_kind_column(con), failure_kind_column(con, "e")
    groups = con.execute(
        f"""WITH latest AS (
               SELECT model_id, property_label, status, reason, attempts, created, {kind} AS failure_kind
               FROM evaluations
               QUALIFY row_number() OVER (PARTITION BY model_id, property_label ORDER BY created DESC) = 1)
           SELECT m.status AS model_status, coalesce(e.status, l.status) AS status, p.property_label,
                  coalesce(e.reason, l.reason, '') AS reason, coalesce(e.attempts, l.attempts, 1) AS attempts,
                  coalesce({e_kind}, l.failure_kind) AS failure_kind,
                  coalesce(e.created, l.created) < ? AS before_plan, count(*) AS n,
                  max(coalesce(e.created, l.created)) AS last_created
           FROM run_plan p
           LEFT JOIN evaluations e ON p.config_hash IS NOT NULL AND e.model_id = p.model_id
                AND e.property_label = p.property_label AND e.config_hash = p.config_hash
           LEFT JOIN latest l ON p.config_hash IS NULL AND l.model_id = p.model_id
                AND l.property_label = p.property_label
           LEFT JOIN models m ON m.model_id = p.model_id
           GROUP BY ALL""",
        [planned_at],
    ).fetchall()
    counts = {"planned": 0, "done": 0, "failed": 0, "remaining": 0, "not_run_fit_failed": 0}
    n_new, last_new = 0, planned_at  # stored since the plan: the rate
    for model_status, ev_status, label, reason, attempts, stored_kind, before_plan, n, last_created in groups:
        counts["planned"] += n
        if model_status == "failed":
            state = "not_run_fit_failed"
        elif ev_status is None:
            state = "remaining"
        elif not before_plan:
            state = "done" if ev_status == "ok" else "failed"
            n_new, last_new = n_new + n, max(last_new, last_created)
        elif ev_status == "ok":
            state = "done"
        else:  # a failure from an earlier run: the run evaluates it again when it is retried
            failure = stored_or_legacy_kind(stored_kind, reason)
            rerun = retry_failed or (failure.transient and int(attempts or 1) < max_attempts)
            state = "remaining" if rerun else "failed"
        counts[state] += n
        if state == "failed":
            key = (label, short_reason(reason), stored_or_legacy_kind(stored_kind, reason).group)
            reasons[key] = reasons.get(key, 0) + n
    status.evaluations = counts
    status.failure_reasons = _grouped(reasons)
    # the rate up to now while work remains (a stalled run shows a falling rate), else up to the last result
    until = dt.datetime.now(dt.UTC) if counts["remaining"] else last_new
    elapsed_s = (until - planned_at).total_seconds()
    if n_new and elapsed_s > 0:
        status.rate_per_min = 60.0 * n_new / elapsed_s
        status.eta_s = counts["remaining"] / (n_new / elapsed_s) if counts["remaining"] else None
    return status


def _stored_only(con: duckdb.DuckDBPyConnection, status: RunStatus) -> RunStatus:
    """No plan: the latest evaluation of each (model, label) stored, and the models."""
    models = dict(con.execute("SELECT status, count(*) FROM models GROUP BY ALL").fetchall())
    n_ok, n_failed = models.get("ok", 0), models.get("failed", 0)
    status.models = {"stored": n_ok + n_failed, "ready": n_ok, "fit_failed": n_failed}
    kind = failure_kind_column(con)
    groups = con.execute(
        f"""SELECT status, property_label, coalesce(reason, ''), {kind}, count(*) FROM (
               SELECT * FROM evaluations
               QUALIFY row_number() OVER (PARTITION BY model_id, property_label ORDER BY created DESC) = 1)
           GROUP BY ALL"""
    ).fetchall()
    counts = {"stored": 0, "done": 0, "failed": 0}
    reasons: dict[tuple[str, str, str], int] = {}
    for ev_status, label, reason, stored_kind, n in groups:
        counts["stored"] += n
        counts["done" if ev_status == "ok" else "failed"] += n
        if ev_status != "ok":
            key = (label, short_reason(reason), stored_or_legacy_kind(stored_kind, reason).group)
            reasons[key] = reasons.get(key, 0) + n
    for family, reason, n in con.execute(
        "SELECT family, coalesce(reason, ''), count(*) FROM models WHERE status = 'failed' GROUP BY ALL"
    ).fetchall():
        key = (f"fit ({family})", short_reason(reason), kind_of_legacy_reason(reason).group)
        reasons[key] = reasons.get(key, 0) + n
    status.evaluations = counts
    status.failure_reasons = _grouped(reasons)
    return status


def _grouped(reasons: dict[tuple[str, str, str], int]) -> list[dict[str, Any]]:
    rows = [
        {"stage": stage, "reason": reason, "kind": kind, "count": n} for (stage, reason, kind), n in reasons.items()
    ]
    return sorted(rows, key=lambda r: (-r["count"], r["stage"], r["reason"]))
