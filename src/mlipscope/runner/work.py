"""The unit of work of the engine, as types: an :class:`Evaluation` (a property of a model against a reference for
a material, keyed by the content of its inputs), a :class:`Fit` (an ensemble member to fit), and what comes back
(:class:`Evaluated`, :class:`FitOutcome`), turned into what the store keeps (:class:`~mlipscope.store.protocol.Record`,
:class:`~mlipscope.store.protocol.ModelRecord`) in one place each (:meth:`Evaluated.record`, :func:`model_record`).

Everything here is picklable: executors send these to Dask workers and sandbox children.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from mlipscope.failures import FailureKind
from mlipscope.materials.material import Material
from mlipscope.models.sampling import MemberSpec
from mlipscope.properties.base import Property
from mlipscope.runner.evaluate import EvaluationOutcome, evaluation_base_key, evaluation_key, model_content_key
from mlipscope.store.protocol import EvaluationKey, ModelRecord, Record, Status


@dataclass(frozen=True)
class Evaluation:
    """One property of one model against one reference. ``model``: how to load the model (a fitted model's
    directory or a calculator spec); ``config_hash``: the hash of every input it reads (see :meth:`of`)."""

    model_id: str
    model: str
    prop: Property
    reference_spec: str
    config_hash: str

    @classmethod
    def of(
        cls,
        model_id: str,
        model: str,
        prop: Property,
        reference_spec: str,
        *,
        model_file_hash: str = "",
        base_key: str | None = None,
    ) -> Evaluation:
        """The evaluation with its stored key: the property's settings and input files, the reference's content
        (:func:`~mlipscope.runner.evaluate.evaluation_base_key`; ``base_key`` when the caller computed it once for
        many models) and the model's content (its model file hash, else its spec and the file it names)."""
        base = base_key if base_key is not None else evaluation_base_key(prop, reference_spec)
        config_hash = evaluation_key(base, model_content_key(model, model_file_hash))
        return cls(model_id, str(model), prop, reference_spec, config_hash)

    @property
    def key(self) -> EvaluationKey:
        return EvaluationKey(self.model_id, self.prop.label, self.config_hash)

    @property
    def material(self) -> Material:
        return self.prop.material


@dataclass(frozen=True)
class Fit:
    """One ensemble member to fit, with its store id (family, hyperparameters, seed and training-set hash)."""

    model_id: str
    member: MemberSpec
    training_set_hash: str
    models_root: str  # the model goes to <models_root>/<member.member_id>
    material: str | None = None  # material name or file: its bulk is the evaluation-cost probe

    @property
    def model_dir(self) -> str:
        return str(Path(self.models_root) / self.member.member_id)


@dataclass
class FitOutcome:
    """What a fit task returns (a failure too, with its reason: a fit never raises)."""

    planned: Fit
    status: str
    reason: str = ""
    fit_wall_time_s: float = math.nan
    eval_cost_s_per_atom_step: float = math.nan
    task_wall_time_s: float = math.nan  # the whole task (set by fit_planned): fit, metrics, cost measurement
    model_file_hash: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Evaluated:
    """What an evaluation task returns: the evaluation's key and its outcome."""

    key: EvaluationKey
    outcome: EvaluationOutcome

    @classmethod
    def failed(cls, evaluation: Evaluation, kind: FailureKind, reason: str, wall_time_s: float = math.nan) -> Evaluated:
        """A failure decided outside the evaluation (its sandbox crashed, its worker was lost)."""
        return cls(evaluation.key, EvaluationOutcome.failed(evaluation.prop.label, kind, reason, wall_time_s))

    @property
    def ok(self) -> bool:
        return self.outcome.ok

    def record(self, software_versions: dict[str, str] | None = None) -> Record:
        """The stored form: ok with its values and ``software_versions``, or failed with its
        :class:`~mlipscope.failures.FailureKind` (a failure without one is an error) and reason."""
        outcome = self.outcome
        if outcome.ok:
            return Record(
                self.key,
                Status.OK,
                values=tuple(outcome.records),
                wall_time_s=outcome.wall_time_s,
                details=dict(outcome.details),
                software_versions=dict(software_versions or {}),
            )
        return Record(
            self.key,
            Status.FAILED,
            failure_kind=outcome.failure_kind or FailureKind.ERROR,
            reason=outcome.reason,
            wall_time_s=outcome.wall_time_s,
            details=dict(outcome.details),
        )


#: what an executor runs, and what it gives back
Task = Evaluation | Fit
Result = Evaluated | FitOutcome


def model_record(outcome: FitOutcome, software_versions: dict[str, str] | None = None) -> ModelRecord:
    """The stored model of a fit, ok or failed."""
    planned, member = outcome.planned, outcome.planned.member
    return ModelRecord(
        planned.model_id,
        member.family,
        member.hyperparameters,
        seed=member.seed,
        training_set_hash=planned.training_set_hash,
        training_set_name=dataset_name(member.training_set),
        fit_wall_time_s=outcome.fit_wall_time_s,
        eval_cost_s_per_atom_step=outcome.eval_cost_s_per_atom_step,
        path=planned.model_dir,
        model_file_hash=outcome.model_file_hash,
        status=Status(outcome.status),
        reason=outcome.reason,
        software_versions=dict(software_versions or {}),
    )


def dataset_name(name_or_path: str) -> str:
    """A dataset's name: a shipped name as it is, a file's stem."""
    return Path(name_or_path).stem if "/" in name_or_path else name_or_path
