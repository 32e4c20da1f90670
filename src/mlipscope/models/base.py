"""The MLIP family interface: one file per family behind this small contract.

A family declares its hyperparameter space, fits a model from a dataset + hyperparameters + seed into a directory,
and loads a fitted model directory as an ASE calculator (and, where the family has one, as LAMMPS pair commands for
fast MD). :meth:`MLIPFamily.fit` is a template method shared by every family (hyperparameters resolved, data
checked, directory made, the family's :meth:`~MLIPFamily._train` timed, ``model.json`` written); a family implements
only its own training. Families whose dependencies clash with the core environment run in their own Python
environment through :mod:`mlipscope.models.worker` behind the same interface.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError
from mlipscope.models.fit_support import check_labelled, resolve_hyperparameters, write_model_json

Scale = Literal["linear", "log", "int", "categorical"]


@dataclass(frozen=True)
class Hyperparameter:
    """One sampled hyperparameter. ``low``/``high`` bound numeric ones (inclusive); ``choices`` categorical ones."""

    name: str
    scale: Scale
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    description: str = ""

    def type_error(self, value: Any) -> str | None:
        """What a fixed ``value`` should have been, when its type does not fit this hyperparameter (else None)."""
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if self.scale == "categorical":
            kinds = {type(c) for c in self.choices}
            if type(value) not in kinds and not (numeric and kinds <= {int, float}):
                return f"one of {list(self.choices)} (a {' or '.join(sorted(k.__name__ for k in kinds))})"
            return None
        if self.scale == "int":
            return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
        return None if numeric else "a number"

    def from_unit(self, u: float) -> Any:
        """Map u in [0, 1) to a value of this hyperparameter (used by the random / LHS / Sobol samplers)."""
        u = min(max(float(u), 0.0), 1.0 - 1e-12)
        if self.scale == "categorical":
            return self.choices[int(u * len(self.choices))]
        assert self.low is not None and self.high is not None
        if self.scale == "log":
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        if self.scale == "int":
            return int(math.floor(self.low + u * (self.high - self.low + 1)))
        return float(self.low + u * (self.high - self.low))


@dataclass(frozen=True)
class HyperparameterSpace:
    parameters: tuple[Hyperparameter, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters}

    def from_unit(self, point) -> dict[str, Any]:
        return {p.name: p.from_unit(u) for p, u in zip(self.parameters, point, strict=True)}

    def narrowed(self, ranges: dict[str, Any]) -> HyperparameterSpace:
        """This space with some hyperparameters sampled over a part of their range: ``[low, high]`` inside the
        declared bounds for a numeric one, a list of its choices for a categorical one (an ensemble's ``ranges``:
        a study samples where its members stay affordable and physical). InputError names the offending key."""
        unknown = sorted(set(ranges) - set(self.names))
        if unknown:
            raise InputError(None, f"ranges.{unknown[0]}", f"a hyperparameter of this family: {self.names}")
        return HyperparameterSpace(
            tuple(_narrow(p, ranges[p.name]) if p.name in ranges else p for p in self.parameters)
        )


def _narrow(parameter: Hyperparameter, wanted: Any) -> Hyperparameter:
    """``parameter`` restricted to ``wanted`` (see :meth:`HyperparameterSpace.narrowed`)."""
    field_name = f"ranges.{parameter.name}"
    if parameter.scale == "categorical":
        values = list(wanted) if isinstance(wanted, list | tuple) else None
        if not values or any(parameter.type_error(v) or v not in parameter.choices for v in values):
            raise InputError(None, field_name, f"a non-empty list of its choices {list(parameter.choices)}", got=wanted)
        return replace(parameter, choices=tuple(values))
    numeric = isinstance(wanted, list | tuple) and len(wanted) == 2 and not any(map(parameter.type_error, wanted))
    assert parameter.low is not None and parameter.high is not None
    if not numeric or not parameter.low <= wanted[0] <= wanted[1] <= parameter.high:
        expected = f"[low, high] with {parameter.low:g} <= low <= high <= {parameter.high:g}"
        raise InputError(None, field_name, expected, got=wanted)
    return replace(parameter, low=wanted[0], high=wanted[1])


@dataclass
class FittedModel:
    """A fitted model on disk. ``model_dir`` holds everything needed to load it again."""

    family: str
    model_dir: Path
    hyperparameters: dict[str, Any]
    seed: int
    fit_wall_time_s: float
    training_set_hash: str
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. training RMSEs reported by the fitting code


@dataclass
class Trained:
    """What a family's training hook (:meth:`MLIPFamily._train`) hands back to :meth:`MLIPFamily.fit`."""

    #: the model files in ``model_dir`` (their names and sha256, in this order, go into model.json)
    files: list[Path]
    #: metrics the training itself reports (e.g. the solver's training RMSEs)
    metrics: dict[str, float] = field(default_factory=dict)
    #: further model.json entries of the family (e.g. ``species``, which the family's loader reads back)
    meta: dict[str, Any] = field(default_factory=dict)


class MLIPFamily(ABC):
    """An MLIP family. Subclasses are stateless and picklable (they are sent to Dask workers).

    A subclass sets ``name`` and ``extra``, and implements :meth:`hyperparameter_space`, :meth:`_train` and
    :meth:`load_calculator`; it may refine :meth:`check_hyperparameters`, :meth:`_training_metrics`,
    :meth:`available`, :meth:`lammps_commands` and :meth:`descriptor_hyperparameters`. It does not override
    :meth:`fit`.
    """

    name: ClassVar[str]
    #: pip extra that installs this family's fitting code (``pip install mlipscope[<extra>]``)
    extra: ClassVar[str]
    #: distributions whose versions model.json records besides mlipscope's own (the family's fitting code)
    fit_packages: ClassVar[tuple[str, ...]] = ()
    #: members are linear in descriptor rows shared by every member with equal descriptor settings, so
    #: :mod:`mlipscope.models.linear_batch` evaluates fixed-geometry properties of many members in one task
    #: (and their fits can be grouped per descriptor setting)
    offers_batch_evaluation: ClassVar[bool] = False
    #: a categorical hyperparameter whose choices are MLIP types of their own in an analysis (DeePMD's descriptor:
    #: the seed study compares se_e2_a and se_e3 models as two types), or None: one type, the family
    variant_hyperparameter: ClassVar[str | None] = None

    @abstractmethod
    def hyperparameter_space(self) -> HyperparameterSpace: ...

    def type_name(self, hyperparameters: dict[str, Any]) -> str:
        """The MLIP type of a member with ``hyperparameters`` (the analysis compares types): the family name, with
        the value of :attr:`variant_hyperparameter` where the family has one (``deepmd-se_e3``)."""
        variant = self.variant_hyperparameter
        if variant is None:
            return self.name
        value = hyperparameters.get(variant, self.hyperparameter_space().defaults()[variant])
        return f"{self.name}-{value}"

    def available(self) -> tuple[bool, str]:
        """(True, "") when the fitting code can run here, else (False, why + how to install)."""
        return True, ""

    def check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """The space's defaults overlaid with ``hyperparameters``, checked (:class:`~mlipscope.errors.InputError`).
        Families add checks or repairs of combinations (e.g. one cutoff below another) on top."""
        return resolve_hyperparameters(self.hyperparameter_space(), hyperparameters)

    def fit(self, dataset: Dataset, hyperparameters: dict[str, Any], seed: int, model_dir: Path) -> FittedModel:
        """Fit a model on ``dataset`` into ``model_dir`` (created if needed) and write its ``model.json``.

        The same steps for every family: resolve the hyperparameters, check the labels, make the directory, run
        the family's :meth:`_train` (its duration is ``fit_wall_time_s``), add :meth:`_training_metrics`, write
        ``model.json``. Failures are exceptions (the callers turn them into failed-fit records).
        """
        hp = self.check_hyperparameters(hyperparameters)
        check_labelled(dataset)
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        trained = self._train(dataset, hp, int(seed), model_dir)
        wall_s = time.perf_counter() - start
        fitted = FittedModel(self.name, model_dir, hp, int(seed), wall_s, dataset.content_hash, dict(trained.metrics))
        fitted.metrics.update(self._training_metrics(dataset, model_dir))
        write_model_json(model_dir, fitted, dataset.name, trained.files, self.fit_packages, **trained.meta)
        return fitted

    @abstractmethod
    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        """The family's own fitting: train on ``dataset`` (labels checked) with resolved hyperparameters ``hp``
        and ``seed``, write the model files into ``model_dir`` (it exists) and say which they are. Raise when
        the fitting code fails; a model that must not be used (non-finite parameters) is a failure too."""

    def _training_metrics(self, dataset: Dataset, model_dir: Path) -> dict[str, float]:
        """Metrics of the trained model on its training set that need the model loaded (not part of
        ``fit_wall_time_s``; model.json does not exist yet). None by default."""
        return {}

    @abstractmethod
    def load_calculator(self, model_dir: Path) -> Calculator:
        """An ASE calculator for a model fitted into ``model_dir``."""

    def lammps_commands(self, model_dir: Path) -> list[str] | None:
        """LAMMPS ``pair_style``/``pair_coeff`` commands for fast MD, or None if the family has no pair style."""
        return None

    def descriptor_hyperparameters(self) -> tuple[str, ...]:
        """Names of the hyperparameters that set the descriptors (the rest set the regression), for families whose
        members with equal descriptor settings share descriptors (SNAP, POD: one cached descriptor computation
        per setting). Empty (the default): no such split; the two-level sampler refuses the family."""
        return ()
