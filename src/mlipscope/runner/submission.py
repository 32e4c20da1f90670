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

from mlipscope.models.linear_batch import is_batchable, offers_batch_evaluation
from mlipscope.properties.base import Property
from mlipscope.runner.task_groups import evaluate_linear_batch_task, evaluate_models_task, lost_outcomes
from mlipscope.runner.tasks import evaluate_task, fit_planned, fit_planned_chunk
from mlipscope.runner.work import Evaluation, Fit, FitOutcome, Result

log = logging.getLogger(__name__)

#: fewest members sharing descriptor settings that are evaluated as one batch
MIN_BATCH = 2
#: linear members fitted in one task when the run is grouped (a SNAP/POD fit on cached normal equations takes
#: milliseconds; the chunk's per-member properties then also go in one task)
FIT_CHUNK = 50


@dataclass
class Submission:
    """Submits the main job's tasks to ``client`` and adds their futures to ``futures`` (``as_completed``).

    ``family``: model id -> MLIP family (absent: an external potential)."""

    client: Any
    futures: Any
    task_timeout_s: float | None
    family: dict[str, str]
    grouped: bool = False
    linear_batch: bool = True
    linear_batch_size: int = 400
    n_tasks: dict[str, int] = field(default_factory=dict)  # tasks submitted, by kind
    #: Dask key -> the fits or the evaluations the task holds (what a lost task is stored as)
    task_info: dict[str, list[Fit] | list[Evaluation]] = field(default_factory=dict)
    _linear_waiting: list[Evaluation] = field(default_factory=list)
    _serial: itertools.count = field(default_factory=itertools.count)

    def _submit(self, kind: str, key: str, held: list, function: Callable, *args: Any) -> None:
        self.task_info[key] = held
        self.n_tasks[kind] = self.n_tasks.get(kind, 0) + 1
        # priority 1 for evaluations: a fitted model is evaluated before the next is fitted, so results (and the
        # ETA) arrive early and a killed run has whole models stored rather than many half-evaluated ones
        priority = 0 if kind.startswith("fit") else 1
        self.futures.add(self.client.submit(function, *args, key=key, pure=False, priority=priority))

    # -- fits ---------------------------------------------------------------------------------------------------
    def fits(self, members: list[Fit]) -> None:
        """One task per member, or (grouped) chunks of linear members sharing descriptor settings."""
        from mlipscope.models.linear_batch import descriptor_group_key

        chunks: dict[tuple, list[Fit]] = {}
        for member in members:
            spec = member.member
            if self.grouped and offers_batch_evaluation(spec.family):
                group = descriptor_group_key(spec.family, spec.hyperparameters, ())
                chunks.setdefault((spec.family, spec.training_set, member.material, group), []).append(member)
            else:
                self._submit("fit", f"fit-{member.model_id}", [member], fit_planned, member)
        for group_members in chunks.values():
            for start in range(0, len(group_members), FIT_CHUNK):
                chunk = group_members[start : start + FIT_CHUNK]
                key = f"fits-{chunk[0].model_id}-{len(chunk)}"
                self._submit("fit chunk", key, chunk, fit_planned_chunk, chunk)

    # -- evaluations --------------------------------------------------------------------------------------------
    def evaluations(self, evaluations: list[Evaluation], batch: bool = True) -> None:
        """Submit evaluations of ready models: fixed-geometry properties of linear members wait for their
        descriptor group's batch (:meth:`linear_batches`); the rest go one task per evaluation, or (grouped) one
        task per :data:`FIT_CHUNK` linear members and one per other model."""
        rest: dict[str, list[Evaluation]] = {}  # per model, in the order given
        for evaluation in evaluations:
            family = self.family.get(evaluation.model_id, "external")
            if batch and self.linear_batch and is_batchable(evaluation.prop, family):
                self._linear_waiting.append(evaluation)
            else:
                rest.setdefault(evaluation.model_id, []).append(evaluation)
        singles = list(rest.values())
        if self.grouped:
            singles = self._grouped([*rest.values()])
        for model_evaluations in singles:
            for evaluation in model_evaluations:
                key = f"eval-{evaluation.model_id}-{evaluation.prop.label}"
                self._submit("single", key, [evaluation], evaluate_task, evaluation, self.task_timeout_s)

    def _grouped(self, per_model: list[list[Evaluation]]) -> list[list[Evaluation]]:
        """Submit linear members FIT_CHUNK to a task (seconds each) and a non-linear model's evaluations in a task
        of their own, so that slow models still run side by side; returns those left for one task each."""
        linear = [job for job in per_model if offers_batch_evaluation(self.family.get(job[0].model_id))]
        chunks = [linear[i : i + FIT_CHUNK] for i in range(0, len(linear), FIT_CHUNK)]
        chunks += [[job] for job in per_model if not offers_batch_evaluation(self.family.get(job[0].model_id))]
        singles = []
        for chunk in chunks:
            held = [evaluation for job in chunk for evaluation in job]
            if len(held) == 1:
                singles.append(held)  # one evaluation: a task of its own either way
                continue
            key = f"evals-{held[0].model_id}-{next(self._serial)}"  # a model may get a second task (its batch's)
            self._submit("grouped", key, held, evaluate_models_task, held, self.task_timeout_s)
        return singles

    def linear_batches(self) -> None:
        """One task per (descriptor group, property, chunk of ``linear_batch_size`` members) for the linear
        members collected by :meth:`evaluations` (called once every fit has finished)."""
        groups: dict[tuple[str, str], list[Evaluation]] = {}
        props: dict[str, Property] = {}
        member_groups: dict[str, str] = {}
        for evaluation in self._linear_waiting:
            if evaluation.model_id not in member_groups:
                member_groups[evaluation.model_id] = _descriptor_group(evaluation)
            props[evaluation.prop.label] = evaluation.prop
            groups.setdefault((member_groups[evaluation.model_id], evaluation.prop.label), []).append(evaluation)
        self._linear_waiting = []
        # a member alone in its group gains nothing from batching (its rows cost one to three evaluations)
        alone: dict[str, list[Evaluation]] = {}
        for members in groups.values():
            for evaluation in members if len(members) < MIN_BATCH else []:
                alone.setdefault(evaluation.model_id, []).append(evaluation)
        groups = {k: members for k, members in groups.items() if len(members) >= MIN_BATCH}
        for model_evaluations in alone.values():
            self.evaluations(model_evaluations, batch=False)
        size = max(1, self.linear_batch_size)
        for (group, label), members in groups.items():
            for start in range(0, len(members), size):
                chunk = members[start : start + size]
                key = f"batch-{label}-{group}-{start}"
                args = (props[label], chunk, self.task_timeout_s)
                self._submit("linear batch", key, chunk, evaluate_linear_batch_task, *args)
        if groups:
            log.info(
                "linear members: %d batched tasks for %d (member, property) pairs",
                sum(-(-len(m) // size) for m in groups.values()),
                sum(len(m) for m in groups.values()),
            )

    # -- lost tasks ---------------------------------------------------------------------------------------------
    def lost(self, key: str, reason: str) -> list[Result] | None:
        """The failed results to store for task ``key``, whose workers kept dying; None for an unknown key."""
        held = self.task_info.get(key)
        if held is None:
            return None
        if held and isinstance(held[0], Fit):
            return [FitOutcome(fit, "failed", reason=reason, fit_wall_time_s=math.nan) for fit in held]
        return lost_outcomes(held, reason)


def _descriptor_group(evaluation: Evaluation) -> str:
    """The descriptor setting a linear member's rows depend on (members sharing it are batched together)."""
    from mlipscope.models.linear_batch import LinearMember, descriptor_group_key

    try:
        member = LinearMember.from_model_dir(evaluation.model, key=evaluation.model_id)
        return descriptor_group_key(member.family, member.hyperparameters, member.species)
    except Exception:  # noqa: BLE001 - unreadable here: evaluate it on its own, where the error is recorded
        log.debug("linear member %s not batchable", evaluation.model_id, exc_info=True)
        return f"single:{evaluation.model_id}"
