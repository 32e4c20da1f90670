"""What the main job hands to Dask: which (model, property) pairs and fits go in one task, and what a lost task
held (so that it is stored as failed evaluations rather than lost).

Small runs get one task per fit and per (model, property) pair, which balances best. Large runs (``grouped``, see
:data:`mlipscope.runner.main_job.GROUP_ABOVE`) group, so the scheduler sees hundreds of tasks, not tens of
thousands:

- the fits of linear members sharing a family, training set and descriptor setting, :data:`FIT_CHUNK` per task
  (:func:`~mlipscope.runner.tasks.fit_planned_chunk`);
- the per-member properties of the members of such a chunk, or of one model, in one task
  (:func:`~mlipscope.runner.task_groups.evaluate_models_task`);
- fixed-geometry properties of linear members, batched per descriptor setting once every fit is done
  (:func:`~mlipscope.runner.task_groups.evaluate_linear_batch_task`).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlipscope.failures import FailureKind
from mlipscope.models.linear_batch import LINEAR_FAMILIES, is_batchable
from mlipscope.properties.base import Property
from mlipscope.runner.evaluate import EvaluationOutcome
from mlipscope.runner.task_groups import (
    TaskGroup,
    evaluate_linear_batch_task,
    evaluate_models_task,
    lost_outcomes,
)
from mlipscope.runner.tasks import FitOutcome, PlannedModel, evaluate_task, fit_planned, fit_planned_chunk

log = logging.getLogger(__name__)

#: fewest members sharing descriptor settings that are evaluated as one batch
MIN_BATCH = 2
#: linear members fitted in one task when the run is grouped (a SNAP/POD fit on cached normal equations takes
#: milliseconds; the chunk's per-member properties then also go in one task)
FIT_CHUNK = 50

#: (model id, model directory or calculator spec, pending properties)
ModelJob = tuple[str, str, list[Property]]


@dataclass
class Submission:
    """Submits the main job's tasks to ``client`` and adds their futures to ``futures`` (``as_completed``).

    ``key_of(model_id, prop)``: the stored evaluation key; ``family``: model id -> MLIP family (absent: an
    external potential)."""

    client: Any
    futures: Any
    reference: str
    task_timeout_s: float | None
    key_of: Callable[[str, Property], str]
    family: dict[str, str]
    grouped: bool = False
    linear_batch: bool = True
    linear_batch_size: int = 400
    n_tasks: dict[str, int] = field(default_factory=dict)  # tasks submitted, by kind
    task_info: dict[str, tuple] = field(default_factory=dict)  # Dask key -> what the task held
    _linear_waiting: list[ModelJob] = field(default_factory=list)
    _serial: itertools.count = field(default_factory=itertools.count)

    def _submit(self, kind: str, key: str, info: tuple, function, *args) -> None:
        self.task_info[key] = info
        self.n_tasks[kind] = self.n_tasks.get(kind, 0) + 1
        # priority 1 for evaluations: a fitted model is evaluated before the next is fitted, so results (and the
        # ETA) arrive early and a killed run has whole models stored rather than many half-evaluated ones
        priority = 0 if kind.startswith("fit") else 1
        self.futures.add(self.client.submit(function, *args, key=key, pure=False, priority=priority))

    # -- fits ---------------------------------------------------------------------------------------------------
    def fits(self, members: list[PlannedModel]) -> None:
        """One task per member, or (grouped) chunks of linear members sharing descriptor settings."""
        from mlipscope.models.linear_batch import descriptor_group_key

        chunks: dict[tuple, list[PlannedModel]] = {}
        for member in members:
            spec = member.member
            if self.grouped and spec.family in LINEAR_FAMILIES:
                group = descriptor_group_key(spec.family, spec.hyperparameters, ())
                chunks.setdefault((spec.family, spec.training_set, member.material, group), []).append(member)
            else:
                self._submit("fit", f"fit-{member.model_id}", ("fit", member), fit_planned, member)
        for group_members in chunks.values():
            for start in range(0, len(group_members), FIT_CHUNK):
                chunk = group_members[start : start + FIT_CHUNK]
                key = f"fits-{chunk[0].model_id}-{len(chunk)}"
                self._submit("fit chunk", key, ("fits", chunk), fit_planned_chunk, chunk)

    # -- evaluations --------------------------------------------------------------------------------------------
    def evaluations(self, jobs: list[ModelJob], batch: bool = True) -> None:
        """Submit the pending properties of ready models: fixed-geometry properties of linear members wait for
        their descriptor group's batch (:meth:`linear_batches`); the rest go one task per pair, or (grouped) one
        task per :data:`FIT_CHUNK` linear members and one per other model."""
        rest: list[tuple[str, str, list[tuple[Property, str]]]] = []
        for model_id, model, todo in jobs:
            family = self.family.get(model_id, "external")
            batched = [p for p in todo if batch and self.linear_batch and is_batchable(p, family)]
            if batched:
                self._linear_waiting.append((model_id, str(model), batched))
            todo = [p for p in todo if p not in batched]
            if todo:
                rest.append((model_id, str(model), [(p, self.key_of(model_id, p)) for p in todo]))
        if self.grouped:
            # linear members FIT_CHUNK to a task (seconds each); a non-linear model's properties in a task of their
            # own, so that slow models still run side by side
            linear = [job for job in rest if self.family.get(job[0]) in LINEAR_FAMILIES]
            chunks = [linear[i : i + FIT_CHUNK] for i in range(0, len(linear), FIT_CHUNK)]
            chunks += [[job] for job in rest if self.family.get(job[0]) not in LINEAR_FAMILIES]
            rest = []
            for chunk in chunks:
                if sum(len(pairs) for _, _, pairs in chunk) == 1:
                    rest += chunk  # one pair: a task of its own either way
                    continue
                group = TaskGroup([(model_id, h, p.label) for model_id, _, pairs in chunk for p, h in pairs])
                key = f"evals-{chunk[0][0]}-{next(self._serial)}"  # a model may get a second task (its batch's)
                args = (chunk, self.reference, self.task_timeout_s)
                self._submit("grouped", key, ("evals", group), evaluate_models_task, *args)
        for model_id, model, pairs in rest:
            for prop, config_hash in pairs:
                self._submit(
                    "single",
                    f"eval-{model_id}-{prop.label}",
                    ("eval", model_id, config_hash, prop.label),
                    evaluate_task,
                    model_id,
                    model,
                    prop,
                    config_hash,
                    self.reference,
                    self.task_timeout_s,
                )

    def linear_batches(self) -> None:
        """One task per (descriptor group, property, chunk of ``linear_batch_size`` members) for the linear
        members collected by :meth:`evaluations` (called once every fit has finished)."""
        from mlipscope.models.linear_batch import LinearMember, descriptor_group_key

        groups: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        props: dict[str, Property] = {}
        for model_id, model_dir, batched in self._linear_waiting:
            try:
                member = LinearMember.from_model_dir(model_dir, key=model_id)
                group = descriptor_group_key(member.family, member.hyperparameters, member.species)
            except Exception:  # noqa: BLE001 - unreadable here: evaluate it on its own, where the error is recorded
                log.debug("linear member %s not batchable", model_id, exc_info=True)
                group = f"single:{model_id}"
            for prop in batched:
                props[prop.label] = prop
                groups.setdefault((group, prop.label), []).append((model_id, model_dir, self.key_of(model_id, prop)))
        self._linear_waiting = []
        # a member alone in its group gains nothing from batching (its rows cost one to three evaluations)
        alone: dict[str, tuple[str, list[Property]]] = {}
        for (group, label), members in list(groups.items()):
            if len(members) < MIN_BATCH:
                for model_id, model_dir, _ in members:
                    alone.setdefault(model_id, (model_dir, []))[1].append(props[label])
                del groups[(group, label)]
        for model_id, (model_dir, todo) in alone.items():
            self.evaluations([(model_id, model_dir, todo)], batch=False)
        size = max(1, self.linear_batch_size)
        for (group, label), members in groups.items():
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                info = ("evals", TaskGroup([(m, h, label) for m, _, h in chunk]))
                key = f"batch-{label}-{group}-{start}"
                args = (props[label], chunk, self.reference, self.task_timeout_s)
                self._submit("linear batch", key, info, evaluate_linear_batch_task, *args)
        if groups:
            log.info(
                "linear members: %d batched tasks for %d (member, property) pairs",
                sum(-(-len(m) // size) for m in groups.values()),
                sum(len(m) for m in groups.values()),
            )

    # -- lost tasks ---------------------------------------------------------------------------------------------
    def lost(self, key: str, reason: str):
        """The failed results to store for task ``key``, whose workers kept dying; None for an unknown key."""
        kind, *info = self.task_info.get(key, ("?",))
        if kind == "fit":
            (planned,) = info
            return FitOutcome(planned, "failed", reason=reason, fit_wall_time_s=math.nan)
        if kind == "fits":
            (chunk,) = info
            return [FitOutcome(planned, "failed", reason=reason, fit_wall_time_s=math.nan) for planned in chunk]
        if kind == "eval":
            model_id, config_hash, label = info
            return model_id, config_hash, EvaluationOutcome.failed(label, FailureKind.WORKER_LOST, reason)
        if kind == "evals":
            (group,) = info
            return lost_outcomes(group, reason)
        return None
