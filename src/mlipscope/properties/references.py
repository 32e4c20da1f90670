"""References a property result is compared with: tabulated DFT values, or a reference calculator.

A tabulated reference file (YAML or JSON) looks like::

    name: Si PBE/PW91 DFT
    values:
      eos.lattice_constant_a: {value: 5.461, source: "CASTEP PW91, GAP-18 testing framework"}
      elastic_perfect.c11_gpa: 153.29          # a bare number is fine too

    thresholds:                              # optional: acceptable absolute errors, same keys and units
      eos.lattice_constant_a: {value: 0.02, source: "default tolerance: 0.4 % of a"}

    not_available:                           # optional: values with no reference, and why (globs allowed)
      diffusion_vacancy.d_*_cm2_s: "no tabulated AIMD diffusivity at these temperatures"

    cheaper_dft:                             # optional: cheaper DFT settings stored beside the reference labels
      - {name: "Γ-only k-points", forces: forces_K1, threshold: true}
      - {name: "2×2×2 k-points", forces: forces_K2, energy: energy_K2}

Keys are full value names (``label.key``, see :mod:`mlipscope.properties.base`). Thresholds feed the analysis
(pass shares, difficulty ranking); a run config's ``[analysis] thresholds`` override them. A ``cheaper_dft`` setting
names per-frame arrays of a dataset (forces, optionally energy) computed with a cheaper DFT setting: the error of
that setting against the reference labels is the study's acceptable error of every dataset property (rare-event
metrics, force RMSE) whose frames carry them; ``threshold: true`` makes one setting's errors thresholds
(:mod:`mlipscope.properties.acceptable_errors`).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import yaml
from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.properties.base import ErrorRecord, Property, PropertyResult


class Reference(ABC):
    """Something that gives reference values for a property."""

    @abstractmethod
    def values_for(self, prop: Property) -> dict[str, tuple[float, str]]:
        """Map full value name -> (reference value, source) for the values of ``prop`` that it knows."""


class TabulatedReference(Reference):
    """Reference values read from a YAML/JSON file (see the module docstring for the format)."""

    def __init__(
        self,
        values: dict[str, tuple[float, str]],
        name: str = "tabulated",
        thresholds: dict[str, tuple[float, str]] | None = None,
        cheaper_dft: list[CheaperDFT] | None = None,
        not_available: dict[str, str] | None = None,
    ) -> None:
        self.values = values
        self.name = name
        self.thresholds = thresholds or {}
        self.cheaper_dft = cheaper_dft or []
        self.not_available = not_available or {}

    @classmethod
    def from_file(cls, path: str | Path) -> TabulatedReference:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "reference file", "an existing YAML or JSON file")
        text = path.read_text()
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InputError(path, "file contents", f"valid {path.suffix.lstrip('.') or 'YAML'} ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
            raise InputError(path, "values", "a mapping of 'label.key' to a number or {value, source}")
        default_source = str(data.get("source", data.get("name", path.name)))
        values = _entries(path, "values", data["values"], default_source)
        thresholds = _entries(path, "thresholds", data.get("thresholds") or {}, default_source)
        for key, (value, _) in thresholds.items():
            if not value > 0:
                raise InputError(path, f"thresholds.{key}", "a positive acceptable error", got=value)
        cheaper = _cheaper_dft(path, data.get("cheaper_dft") or [])
        missing = data.get("not_available") or {}
        if not isinstance(missing, dict) or not all(isinstance(v, str) and v for v in missing.values()):
            raise InputError(path, "not_available", "a mapping of 'label.key' (or a glob) to why no value exists")
        return cls(
            values,
            name=str(data.get("name", path.stem)),
            thresholds=thresholds,
            cheaper_dft=cheaper,
            not_available={str(k): v for k, v in missing.items()},
        )

    def values_for(self, prop: Property) -> dict[str, tuple[float, str]]:
        prefix = prop.label + "."
        return {k: v for k, v in self.values.items() if k.startswith(prefix)}


def _entries(path: Path, section: str, table: object, default_source: str) -> dict[str, tuple[float, str]]:
    if not isinstance(table, dict):
        raise InputError(path, section, "a mapping of 'label.key' to a number or {value, source}", got=table)
    out: dict[str, tuple[float, str]] = {}
    for key, entry in table.items():
        if isinstance(entry, dict):
            raw, source = entry.get("value"), str(entry.get("source", default_source))
        else:
            raw, source = entry, default_source
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise InputError(path, f"{section}.{key}", "a number (or a mapping with a numeric 'value')", got=raw)
        out[str(key)] = (float(raw), source)
    return out


@dataclass(frozen=True)
class CheaperDFT:
    """A cheaper DFT setting stored on a dataset's frames: forces in ``atoms.arrays[forces]`` (eV/Å) and, if given,
    energies in ``atoms.info[energy]`` (eV). ``threshold``: its errors are the acceptable errors of the analysis."""

    name: str
    forces: str
    energy: str | None = None
    threshold: bool = False


def _cheaper_dft(path: Path, table: object) -> list[CheaperDFT]:
    if not isinstance(table, list):
        raise InputError(path, "cheaper_dft", "a list of {name, forces, energy (optional), threshold (optional)}")
    out = []
    for i, entry in enumerate(table):
        where = f"cheaper_dft[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("forces"), str):
            raise InputError(path, f"{where}.forces", "the name of a per-atom forces array, e.g. forces_K1")
        unknown = sorted(set(entry) - {"name", "forces", "energy", "threshold"})
        if unknown:
            raise InputError(path, f"{where}.{unknown[0]}", "one of name, forces, energy, threshold")
        energy = entry.get("energy")
        if energy is not None and not isinstance(energy, str):
            raise InputError(path, f"{where}.energy", "the name of a per-frame energy (eV), e.g. energy_K2", got=energy)
        if not isinstance(entry.get("threshold", False), bool):
            raise InputError(path, f"{where}.threshold", "true or false", got=entry["threshold"])
        out.append(
            CheaperDFT(str(entry.get("name", entry["forces"])), entry["forces"], energy, entry.get("threshold", False))
        )
    if sum(c.threshold for c in out) > 1:
        raise InputError(path, "cheaper_dft", "at most one setting with threshold: true")
    return out


class CalculatorReference(Reference):
    """Reference values computed by running the same property with a reference calculator (e.g. DFT or a trusted
    potential). Results are cached per property label, so a suite runs the reference once."""

    def __init__(self, calculator: Calculator, name: str = "reference calculator") -> None:
        self.calculator = calculator
        self.name = name
        self._cache: dict[str, PropertyResult] = {}

    def values_for(self, prop: Property) -> dict[str, tuple[float, str]]:
        if prop.label not in self._cache:
            self._cache[prop.label] = prop.compute(self.calculator)
        result = self._cache[prop.label]
        return {name: (value, self.name) for name, value in result.full_names().items()}


def compare(result: PropertyResult, reference: dict[str, tuple[float, str]]) -> list[ErrorRecord]:
    """One error record per value of ``result``.

    Values listed in ``result.error_metrics`` are errors against DFT already: their reference is 0. Values without a
    reference get NaN errors (they are still recorded, so nothing computed is lost).
    """
    records = []
    for key, value in result.values.items():
        full = f"{result.label}.{key}"
        unit = result.units[key]
        if key in result.error_metrics:
            records.append(ErrorRecord.compare(full, value, 0.0, unit, "DFT labels of the dataset"))
        elif full in reference:
            ref_value, source = reference[full]
            records.append(ErrorRecord.compare(full, value, ref_value, unit, source))
        else:
            records.append(ErrorRecord(full, value, math.nan, unit, math.nan, math.nan, ""))
    return records
