"""The reference implementation of :class:`~mlipscope.store.protocol.ResultStore`: everything in dictionaries, gone
when the process ends. Tests use it (the engine, ``status`` and the wide table run on it unchanged) and it shows
in a page what a new backend has to do (see ``docs/guides/add_a_store_backend.md``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mlipscope.errors import InputError
from mlipscope.store.protocol import (
    PLAN_COLUMNS,
    RECORD_COLUMNS,
    EvaluationKey,
    ModelRecord,
    Record,
    Status,
    StoredState,
)

_VALUE_FIELDS = ("name", "value", "reference", "unit", "absolute_error", "relative_error", "reference_source")
_MODEL_COLUMNS = (*(f.name for f in dataclasses.fields(ModelRecord)), "created")


@dataclasses.dataclass(frozen=True)
class _Stored:
    record: Record
    attempts: int
    created: pd.Timestamp


class MemoryStore:
    """A :class:`~mlipscope.store.protocol.ResultStore` in memory; ``path`` only names it in messages."""

    def __init__(self, path: str | Path = "<memory>") -> None:
        self.path = Path(path)
        self._models: dict[str, tuple[ModelRecord, pd.Timestamp]] = {}
        self._records: dict[EvaluationKey, _Stored] = {}
        self._plan: list[tuple[str, str, str | None]] = []
        self._meta: dict[str, str] = {}
        self._clock = pd.Timestamp(0, tz="UTC")

    def _now(self) -> pd.Timestamp:
        """The current time, strictly later than the last one given (the latest record by time is well defined)."""
        self._clock = max(pd.Timestamp.now(tz="UTC").floor("us"), self._clock + pd.Timedelta(microseconds=1))
        return self._clock

    # -- models ----------------------------------------------------------------------------------------------
    def put_model(self, model: ModelRecord) -> None:
        if model.status not in (Status.OK, Status.FAILED):
            raise InputError(self.path, "status", "'ok' or 'failed'", got=model.status)
        kept = self._models.get(model.model_id)
        self._models[model.model_id] = (model, kept[1] if kept else self._now())

    def models(self) -> pd.DataFrame:
        rows = [{**dataclasses.asdict(m), "status": str(m.status), "created": t} for m, t in self._models.values()]
        frame = pd.DataFrame(rows, columns=list(_MODEL_COLUMNS))
        if rows:
            frame = frame.sort_values(["created", "model_id"], kind="stable", ignore_index=True)
            seeds = frame["seed"].astype("Int64")  # integers, nullable only when one is missing (as DuckDB reads)
            frame["seed"] = seeds if seeds.isna().any() else seeds.astype("int64")
        return frame

    # -- records ---------------------------------------------------------------------------------------------
    def put_records(self, records: Iterable[Record]) -> int:
        n = 0
        for record in records:
            if record.key.model_id not in self._models:
                raise InputError(self.path, "model_id", "a model put before its records", got=record.key.model_id)
            key = EvaluationKey(*record.key)
            previous = self._records.get(key)
            attempts = (previous.attempts if previous else 0) + 1
            self._records[key] = _Stored(record, attempts, self._now())
            n += 1
        return n

    def stored_states(self, keys: Iterable[EvaluationKey] | None = None) -> dict[EvaluationKey, StoredState]:
        wanted = self._records.keys() if keys is None else [EvaluationKey(*k) for k in keys]
        states = {}
        for key in wanted:
            stored = self._records.get(key)
            if stored is not None:
                states[key] = StoredState(stored.record.status, stored.record.failure_kind, stored.attempts)
        return states

    def records(self) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        for key, stored in sorted(self._records.items(), key=lambda item: (item[1].created, *item[0][:2])):
            r = stored.record
            evaluation = {
                **key._asdict(),
                "status": str(r.status),
                "failure_kind": None if r.failure_kind is None else r.failure_kind.value,
                "reason": r.reason,
                "wall_time_s": float(r.wall_time_s),
                "attempts": stored.attempts,
                "created": stored.created,
            }
            values = [dataclasses.asdict(v) for v in r.values] or [dict.fromkeys(_VALUE_FIELDS)]
            rows += [{**evaluation, **{f: v[f] for f in _VALUE_FIELDS}} for v in values]
        frame = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
        return frame.astype(
            {c: float for c in ("wall_time_s", "value", "reference", "absolute_error", "relative_error")}
        )

    def details(self, model_ids: Sequence[str]) -> dict[EvaluationKey, dict[str, Any]]:
        ids = set(model_ids)
        return {k: dict(s.record.details) for k, s in self._records.items() if k.model_id in ids}

    # -- plan, meta, lifecycle -------------------------------------------------------------------------------
    def put_plan(self, keys: Iterable[tuple[str, str, str | None]], *, append: bool = False) -> int:
        rows = [(str(m), str(p), None if h is None else str(h)) for m, p, h in keys]
        self._plan = [*self._plan, *rows] if append else rows
        return len(rows)

    def plan(self) -> pd.DataFrame:
        return pd.DataFrame(self._plan, columns=list(PLAN_COLUMNS), dtype=object)

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = str(value)

    def close(self) -> None:
        """Nothing to make durable: the contents live as long as the object."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
