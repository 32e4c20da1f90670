"""The MLIP family interface: one file per family behind this small contract.

A family declares its hyperparameter space, fits a model from a dataset + hyperparameters + seed into a directory,
and loads a fitted model directory as an ASE calculator (and, where the family has one, as LAMMPS pair commands for
fast MD). Families whose dependencies clash with the core environment run in their own Python environment through
:mod:`mlipscope.models.worker` behind the same interface.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import Dataset

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


class MLIPFamily(ABC):
    """An MLIP family. Subclasses are stateless and picklable (they are sent to Dask workers)."""

    name: ClassVar[str]
    #: pip extra that installs this family's fitting code (``pip install mlipscope[<extra>]``)
    extra: ClassVar[str]

    @abstractmethod
    def hyperparameter_space(self) -> HyperparameterSpace: ...

    def available(self) -> tuple[bool, str]:
        """(True, "") when the fitting code can run here, else (False, why + how to install)."""
        return True, ""

    @abstractmethod
    def fit(self, dataset: Dataset, hyperparameters: dict[str, Any], seed: int, model_dir: Path) -> FittedModel:
        """Fit a model on ``dataset`` into ``model_dir`` (created if needed)."""

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
