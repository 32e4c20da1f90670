"""References a property result is compared with: tabulated DFT values, or a reference calculator.

A tabulated reference file (YAML or JSON) looks like::

    name: Si PBE/PW91 DFT
    values:
      eos.lattice_constant_a: {value: 5.461, source: "CASTEP PW91, GAP-18 testing framework"}
      elastic_perfect.lattice_constant_a: {same_as: eos.lattice_constant_a}   # one value for several names
      elastic_perfect.c11_gpa: 153.29          # a bare number is fine too

    thresholds:                              # optional: acceptable absolute errors, same keys and units
      eos.lattice_constant_a: {value: 0.02, source: "default tolerance: 0.4 % of a"}

    not_available:                           # optional: values with no reference, and why (globs allowed)
      diffusion_vacancy.d_*_cm2_s: "no tabulated AIMD diffusivity at these temperatures"

    cheaper_dft:                             # optional: cheaper DFT settings stored beside the reference labels
      - {name: "Γ-only k-points", forces: forces_K1, threshold: true}
      - {name: "2×2×2 k-points", forces: forces_K2, energy: energy_K2}

    study_thresholds: liu_mo_2024_mapping.yaml   # optional: a study's published acceptable errors (file next to this)
    notes: {...}                             # optional: anything for people (how the values were derived); not read

Keys are full value names (``label.key``, see :mod:`mlipscope.properties.base`). ``{same_as: <value name>}`` gives
a value (or threshold) that several names share once: the entry takes the value and source of the named one, in
the same section. Any other top-level key, or a key of an entry other than ``value``/``source``/``same_as``, is an
error with "did you mean"; so is a label that is not a property of the material the file is loaded for (see
:func:`check_labels`: a typo would otherwise leave a value without its reference, silently).

Thresholds feed the analysis (pass shares, difficulty ranking); a run config's ``[analysis] thresholds`` override
them. A ``cheaper_dft`` setting names per-frame arrays of a dataset (forces, optionally energy) computed with a
cheaper DFT setting: the error of that setting against the reference labels is the study's acceptable error of
every dataset property (rare-event metrics, force RMSE) whose frames carry them; ``threshold: true`` makes one
setting's errors thresholds (:mod:`mlipscope.properties.acceptable_errors`).

``study_thresholds`` names a study mapping (:func:`load_study_mapping`): the study's published acceptable errors,
each mapped to a value name (with a unit conversion where needed), become that value's threshold, with the study
key in the source. The mapping is their only source: ``thresholds`` may not list a value the study maps, and a
published value takes precedence over a computed cheaper-DFT error of the same value.
"""

from __future__ import annotations

import fnmatch
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.plain_input import did_you_mean, load_yaml
from mlipscope.properties.base import ErrorRecord, Property, PropertyResult

#: the top-level keys of a reference file (see the module docstring)
FILE_KEYS = ("name", "source", "notes", "values", "thresholds", "not_available", "cheaper_dft", "study_thresholds")
#: the keys of one entry of ``values`` or ``thresholds``
ENTRY_KEYS = ("value", "source", "same_as")
#: labels of values the analysis adds to a model's properties (``md_survival.*``: :mod:`mlipscope.analysis.dynamics`)
ANALYSIS_LABELS = ("md_survival",)


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
        published_thresholds: frozenset[str] = frozenset(),
    ) -> None:
        self.values = values
        self.name = name
        self.thresholds = thresholds or {}
        self.cheaper_dft = cheaper_dft or []
        self.not_available = not_available or {}
        #: value names whose threshold is a study's published acceptable error (``study_thresholds``)
        self.published_thresholds = published_thresholds

    @classmethod
    def from_file(cls, path: str | Path, labels: Iterable[str] | None = None) -> TabulatedReference:
        """The reference of a file; ``labels``: the property labels its value names may use (None: not checked)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise InputError(path, "reference file", "an existing YAML or JSON file")
        text = path.read_text()
        try:
            data = json.loads(text) if path.suffix == ".json" else load_yaml(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise InputError(path, "file contents", f"valid {path.suffix.lstrip('.') or 'YAML'} ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
            raise InputError(path, "values", "a mapping of 'label.key' to a number or {value, source}")
        unknown = [key for key in data if key not in FILE_KEYS]
        if unknown:
            hint = did_you_mean(unknown[0], FILE_KEYS)
            raise InputError(path, str(unknown[0]), f"one of the keys {list(FILE_KEYS)} (unknown key{hint})")
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
        published = _published_thresholds(path, data.get("study_thresholds"), thresholds)
        names = {"values": list(values), "thresholds": list(thresholds), "not_available": list(missing)}
        names["study_thresholds"] = list(published)
        check_labels(path, names, labels)
        return cls(
            values,
            name=str(data.get("name", path.stem)),
            thresholds={**thresholds, **published},
            cheaper_dft=cheaper,
            not_available={str(k): v for k, v in missing.items()},
            published_thresholds=frozenset(published),
        )

    def values_for(self, prop: Property) -> dict[str, tuple[float, str]]:
        prefix = prop.label + "."
        return {k: v for k, v in self.values.items() if k.startswith(prefix)}


def _entries(path: Path, section: str, table: object, default_source: str) -> dict[str, tuple[float, str]]:
    """Value name -> (number, source) of one section, ``same_as`` entries resolved (file order kept)."""
    if not isinstance(table, dict):
        raise InputError(path, section, "a mapping of 'label.key' to a number or {value, source}", got=table)
    given: dict[str, tuple[float, str]] = {}
    aliases: dict[str, object] = {}
    for key, entry in table.items():
        where = f"{section}.{key}"
        if isinstance(entry, dict):
            alias = "same_as" in entry
            odd = [k for k in entry if k not in (("same_as",) if alias else ("value", "source"))]
            if odd:
                expected = (
                    "nothing beside same_as (it takes the named value's source)"
                    if alias
                    else f"one of the keys {list(ENTRY_KEYS)} (unknown key{did_you_mean(odd[0], ENTRY_KEYS)})"
                )
                raise InputError(path, f"{where}.{odd[0]}", expected)
            if alias:
                aliases[str(key)] = entry["same_as"]
                continue
            raw, source = entry.get("value"), str(entry.get("source", default_source))
        else:
            raw, source = entry, default_source
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise InputError(path, where, "a number (or a mapping with a numeric 'value')", got=raw)
        given[str(key)] = (float(raw), source)
    for key, target in aliases.items():
        if not isinstance(target, str) or target not in given:
            hint = did_you_mean(target, given)
            raise InputError(
                path, f"{section}.{key}.same_as", f"a value name given with its number in {section}{hint}", got=target
            )
    return {str(key): given[str(key)] if str(key) in given else given[aliases[str(key)]] for key in table}


def check_labels(path: Path, names: dict[str, list[str]], labels: Iterable[str] | None) -> None:
    """Every value name of ``names`` (section -> names, globs in ``not_available``) is ``label.key``; with
    ``labels``, its label (a glob: one of them) is one of ``labels`` or of :data:`ANALYSIS_LABELS`."""
    known = None if labels is None else sorted(set(labels) | set(ANALYSIS_LABELS))
    for section, section_names in names.items():
        for name in section_names:
            label, _, key = str(name).partition(".")
            if not label or not key:
                raise InputError(path, f"{section}.{name}", "a value name '<label>.<key>', e.g. eos.lattice_constant_a")
            if known is not None and not any(fnmatch.fnmatchcase(k, label) for k in known):
                hint = did_you_mean(label, known)
                raise InputError(
                    path,
                    f"{section}.{name}",
                    f"a property label of the material, one of {known} (unknown label '{label}'{hint})",
                )


def _published_thresholds(
    path: Path, study: object, thresholds: dict[str, tuple[float, str]]
) -> dict[str, tuple[float, str]]:
    """The thresholds of the study mapping a reference file names under ``study_thresholds`` (none: {})."""
    if study is None:
        return {}
    if not isinstance(study, str) or not study:
        raise InputError(
            path, "study_thresholds", "the name of a study mapping file next to the reference file", got=study
        )
    mapping_path = path.parent / study
    published = study_thresholds(load_study_mapping(mapping_path), mapping_path)
    clash = sorted(set(published) & set(thresholds))
    if clash:
        raise InputError(
            path, f"thresholds.{clash[0]}", f"no entry for a value whose threshold the study mapping {study} gives"
        )
    return published


@dataclass(frozen=True)
class StudyAcceptableError:
    """One acceptable error a study published (``acceptable_error``, in the study's ``unit``) and the mlipscope
    value it applies to (``value_name``; None with ``unmapped_reason`` when none does). ``factor`` converts it to
    the value's unit ``value_unit``; ``source`` names the publication (the key is added by
    :meth:`threshold_source`); ``differences``: how the study's definition differs from mlipscope's."""

    key: str
    acceptable_error: float
    unit: str
    value_name: str | None
    source: str
    meaning: str = ""
    differences: str = ""
    unmapped_reason: str = ""
    factor: float = 1.0
    value_unit: str = ""

    @property
    def threshold(self) -> float:
        """The acceptable error in the mlipscope value's unit."""
        return self.acceptable_error * self.factor

    def conversion(self) -> str:
        """'' or e.g. '15 meV/atom = 0.015 eV/atom'."""
        if self.factor == 1.0:
            return ""
        return f"{self.acceptable_error:g} {self.unit} = {self.threshold:g} {self.value_unit}"


def load_study_mapping(path: str | Path) -> list[StudyAcceptableError]:
    """A study's acceptable errors with the value names they apply to, from a mapping file (format in the header of
    ``package_data/reference/liu_mo_2024_mapping.yaml``) and the acceptable-errors file it names. Every key of the
    acceptable-errors file must be in the mapping, mapped or with the reason it is not."""
    path = Path(path)
    data = _yaml_mapping(path, "study mapping")
    errors_name, sources, mapping = data.get("acceptable_errors"), data.get("sources"), data.get("mapping")
    if not isinstance(errors_name, str) or not isinstance(sources, dict) or not sources:
        raise InputError(path, "acceptable_errors/sources", "the acceptable-errors file name and {name: citation}")
    if not isinstance(mapping, dict):
        raise InputError(path, "mapping", "a mapping of each study key to {value, meaning, unit, ...}", got=mapping)
    published = _yaml_mapping(path.parent / errors_name, "acceptable errors")
    if set(published) != set(mapping):
        odd = sorted(set(published) ^ set(mapping))
        raise InputError(path, f"mapping.{odd[0]}", f"exactly the keys of {errors_name}", got=odd)
    return [_study_entry(path, key, entry, published[key], sources) for key, entry in mapping.items()]


def _yaml_mapping(path: Path, what: str) -> dict:
    import yaml

    if not path.is_file():
        raise InputError(path, what, f"an existing YAML file of the {what}")
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(path, "file contents", f"valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(path, "file contents", f"a YAML mapping of the {what}")
    return data


def _study_entry(path: Path, key: str, entry: object, error: object, sources: dict) -> StudyAcceptableError:
    where = f"mapping.{key}"
    if isinstance(error, bool) or not isinstance(error, int | float) or not error > 0:
        raise InputError(path, key, "a positive published acceptable error", got=error)
    if not isinstance(entry, dict) or not isinstance(entry.get("unit"), str):
        raise InputError(path, where, "{value, meaning, unit, differences (or unmapped), convert, published}")
    value, unmapped = entry.get("value"), entry.get("unmapped", "")
    if value is None and not (isinstance(unmapped, str) and unmapped):
        raise InputError(path, f"{where}.unmapped", "why no mlipscope value matches (value is null)")
    if value is not None and not (isinstance(value, str) and "." in value):
        raise InputError(path, f"{where}.value", "an mlipscope value name '<label>.<key>' or null", got=value)
    convert = entry.get("convert") or {"factor": 1.0, "unit": ""}
    factor = convert.get("factor") if isinstance(convert, dict) else None
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 0:
        raise InputError(path, f"{where}.convert", "{factor: positive number, unit: the value's unit}", got=convert)
    published = entry.get("published", next(iter(sources)))
    if published not in sources:
        raise InputError(path, f"{where}.published", f"one of {sorted(sources)}", got=published)
    differences = entry.get("differences", "")
    return StudyAcceptableError(
        key=key,
        acceptable_error=float(error),
        unit=entry["unit"],
        value_name=value,
        source=str(sources[published]),
        meaning=str(entry.get("meaning", "")),
        differences=" ".join(differences) if isinstance(differences, list) else str(differences),
        unmapped_reason=str(unmapped),
        factor=float(factor),
        value_unit=str(convert.get("unit", "")),
    )


def study_thresholds(
    entries: list[StudyAcceptableError], mapping_path: str | Path | None = None
) -> dict[str, tuple[float, str]]:
    """Value name -> (threshold, source) of the mapped study keys. Keys mapped to one value name must agree; the
    source names the publication, every such key and the unit conversion (if any)."""
    by_value: dict[str, list[StudyAcceptableError]] = {}
    for entry in entries:
        if entry.value_name is not None:
            by_value.setdefault(entry.value_name, []).append(entry)
    out: dict[str, tuple[float, str]] = {}
    for name, group in by_value.items():
        first = group[0]
        if any(not math.isclose(e.threshold, first.threshold, rel_tol=1e-9) for e in group):
            raise InputError(
                mapping_path, f"mapping.{group[1].key}", f"the same threshold as {first.key} (both map to {name})"
            )
        keys = ", ".join(e.key for e in group)
        conversion = f" ({first.conversion()})" if first.conversion() else ""
        out[name] = (first.threshold, f"{first.source}: {keys}{conversion}")
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
