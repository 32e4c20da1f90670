"""The property interface: one small class per property family, results as typed records.

A :class:`Property` takes an ASE calculator and returns a :class:`PropertyResult` with named scalar values, each
with its unit. Comparing a result with a reference (tabulated DFT values or the same property run with a reference
calculator, see :mod:`mlipscope.properties.references`) gives one :class:`ErrorRecord` per value.

Naming: a value's full name is ``"<label>.<key>"``, e.g. ``"elastic_perfect.c11_gpa"``; ``label`` is the property
instance's label (defaults to the family name) so one family can appear several times in a suite (perfect crystal,
vacancy cell, ...). Keys carry their unit as a suffix (``_ev``, ``_gpa``, ``_a``, ``_thz``, ``_j_m2``, ...).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ase.calculators.calculator import Calculator

from mlipscope.materials import load_material
from mlipscope.materials.material import Material
from mlipscope.properties.registry import SuiteEntry, register, target_of

if TYPE_CHECKING:
    from mlipscope.properties.context import MaterialContext


@dataclass(frozen=True)
class PropertyResult:
    """What one property computation produced.

    ``values`` maps key -> value (float; NaN where undefined); ``units`` maps key -> unit string.
    ``error_metrics`` names keys that already *are* errors against DFT (e.g. a force RMSE on a DFT dataset): their
    reference is 0 and they need no reference value. ``details`` holds non-scalar data (curves, spectra) as plain
    JSON-able objects for figures and the report.
    """

    label: str
    values: dict[str, float]
    units: dict[str, str]
    error_metrics: frozenset[str] = frozenset()
    details: dict[str, Any] = field(default_factory=dict)

    def full_names(self) -> dict[str, float]:
        """Values keyed by their full name ``label.key``."""
        return {f"{self.label}.{k}": v for k, v in self.values.items()}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_metrics"] = sorted(self.error_metrics)
        return out


@dataclass(frozen=True)
class ErrorRecord:
    """A property value compared with its reference. ``relative_error`` is NaN where the reference is 0."""

    name: str
    value: float
    reference: float
    unit: str
    absolute_error: float
    relative_error: float
    reference_source: str = ""

    @classmethod
    def compare(cls, name: str, value: float, reference: float, unit: str, reference_source: str = "") -> ErrorRecord:
        abs_err = abs(value - reference) if _finite(value) and _finite(reference) else math.nan
        rel_err = abs_err / abs(reference) if _finite(abs_err) and reference != 0 else math.nan
        return cls(name, value, reference, unit, abs_err, rel_err, reference_source)


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


class Property(ABC):
    """One property family. Subclasses set ``name`` and implement :meth:`compute`; a family that suites use sets
    ``suite_order`` (which registers it, see :mod:`mlipscope.properties.registry`) and :meth:`suite_entries`.

    Configuration goes to ``__init__`` as keyword arguments with documented defaults; ``label`` names this instance
    and ``material`` (a :class:`~mlipscope.materials.material.Material`, a shipped material name or a material
    file; default: the default material) says what it is computed for. ``compute`` must not keep state between
    calls, so the same instance can run on many calculators (and be shipped to Dask workers: keep it picklable).
    """

    name: ClassVar[str]
    #: place of the family's entries in a suite (lower first); setting it in a class body registers the class
    suite_order: ClassVar[float | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "suite_order" in cls.__dict__:
            register(cls)  # checks the class now, at definition, not when a suite is first built

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """The suite entries ``material`` gives this family (labels unique across families). Default: none, for a
        registered family that no material selects yet (it is still listed and conformance-tested)."""
        return []

    @classmethod
    def suite_entry(cls, label: str, **config: Any) -> SuiteEntry:
        """An entry of this class: built as ``cls(label=label, material=..., **config)``."""
        return SuiteEntry(label, target_of(cls), config)

    def __init__(self, label: str | None = None, *, material: Material | str | None = None) -> None:
        self.label = label or self.name
        self.material = load_material(material)

    @abstractmethod
    def compute(self, calculator: Calculator, context: MaterialContext | None = None) -> PropertyResult:
        """Run the property with ``calculator`` and return its values. ``context`` carries what the model's
        properties share (its relaxed bulk); without one, a fresh context of this property's material is used."""

    @property
    def required_species(self) -> tuple[str, ...]:
        """Elements a calculator must know to compute this property."""
        return self.material.species

    def context_for(self, context: MaterialContext | None) -> MaterialContext:
        """``context`` if it is for this property's material, else a new one."""
        from mlipscope.properties.context import MaterialContext

        if context is not None and context.material.fingerprint() == self.material.fingerprint():
            return context
        return MaterialContext(self.material)

    def share_key(self) -> str:
        """Key of this property's result in a model's context: family and settings, not the label."""
        import json

        settings = {k: v for k, v in self.config().items() if k != "label"}
        return f"{self.name}:{json.dumps(settings, sort_keys=True, default=str)}"

    def validate_inputs(self) -> None:
        """Load and check the files this property will read, raising InputError on a bad one (called before a
        run's first fit, so a bad dataset named in a config override is found at once). The default reads
        nothing beyond the material, which is loaded when the property is built."""
        return None

    def input_paths(self) -> list[str]:
        """Files this property reads (their content is part of its evaluations' stored keys): the material file
        and, in subclasses, datasets and reference curves."""
        return [self.material.source] if self.material.source else []

    def cheaper_setting_result(self, forces_key: str, energy_key: str | None = None) -> PropertyResult | None:
        """This property computed with a cheaper DFT setting stored on its dataset's frames (forces array
        ``forces_key``, energies ``energy_key``) in place of a model: the setting's errors, i.e. the acceptable
        errors of :mod:`mlipscope.properties.acceptable_errors`. None when the property reads no such frames."""
        return None

    def config(self) -> dict[str, Any]:
        """Configuration as a JSON-able dict (stored with each evaluation for provenance)."""
        out = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        out["material"] = f"{self.material.name} ({self.material.fingerprint()})"
        return out

    def result(
        self,
        values: dict[str, float],
        units: dict[str, str],
        *,
        error_metrics: set[str] | frozenset[str] = frozenset(),
        details: dict[str, Any] | None = None,
    ) -> PropertyResult:
        """Helper for subclasses: build the result with this instance's label."""
        missing = set(values) - set(units)
        if missing:
            raise ValueError(f"{type(self).__name__}: no unit for {sorted(missing)}")
        return PropertyResult(
            label=self.label,
            values={k: float(v) for k, v in values.items()},
            units=dict(units),
            error_metrics=frozenset(error_metrics),
            details=details or {},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(label={self.label!r})"
