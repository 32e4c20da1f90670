"""The form of a material file (YAML), as pydantic schemas: every key, type and range a file can get wrong is refused
here with one InputError naming the file and the dotted field (see :mod:`mlipscope.validation`). What needs more
than the file (element symbols, a prototype's interstitials, files on disk) is checked by
:func:`mlipscope.materials.material.material_from_dict`.

Booleans are strict (``vacancy: "no"`` is refused, not read as true); lists stay lists (the material converts them
to tuples).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from mlipscope.validation import NONE_AS_EMPTY, Schema, checked, expect

DATASET_ROLES = ("training", "test", "rare_event", "validation")
PHONON_CELLS = ("perfect", "vacancy")
_DATASETS = "a mapping of short name -> shipped dataset name or file"


def _is_name(value: str) -> bool:
    return value.replace("_", "").replace("-", "").isalnum()


def _is_miller(value: list[int]) -> bool:
    return len(value) == 3 and any(value)


class Crystal(Schema):
    """A crystal: a prototype with starting lattice constant(s), or a structure file (relative to the file)."""

    expected_text: ClassVar[str] = "{prototype: ..., a: ...} or {file: ...}"
    prototype: str | None = None
    a: float | None = expect("a starting lattice constant in Å", None, gt=0)
    c: float | None = expect("a lattice constant in Å", None, gt=0)
    file: str | None = None


class ElementalCrystal(Crystal):
    """A compound's elemental ground state: a crystal, or ASE's reference crystal of the element."""

    expected_text: ClassVar[str] = "{ase_reference: true}, {prototype, a} or {file}"
    ase_reference: bool = False


class Datasets(Schema):
    expected_text: ClassVar[str] = f"a mapping of roles {list(DATASET_ROLES)}"
    training: dict[str, str] = expect(_DATASETS, {})
    test: dict[str, str] = expect(_DATASETS, {})
    rare_event: dict[str, str] = expect(_DATASETS, {})
    validation: dict[str, str] = expect(_DATASETS, {})


class Defects(Schema):
    expected_text: ClassVar[str] = "a mapping (supercells, vacancy, interstitials, generated_interstitials, elastic)"
    supercells: list[Annotated[int, Field(ge=1)]] = expect("a list of positive integers, e.g. [2, 3]", [2])
    vacancy: bool = True
    interstitials: list[str] = expect("a list of standard interstitial sites of the prototype", [])
    generated_interstitials: Annotated[dict[str, Annotated[int, Field(gt=0)]], NONE_AS_EMPTY] = expect(
        "a mapping of the material's species to a number of sites, e.g. {In: 2}", {}
    )
    elastic: list[str] = expect("a list of defects of this material (vacancy, interstitial sites)", [])


class Phonons(Schema):
    expected_text: ClassVar[str] = "a mapping {cells: [perfect, vacancy]}"
    cells: list[Annotated[str, checked(lambda c: c in PHONON_CELLS, "perfect or vacancy")]] = expect(
        "perfect and/or vacancy", ["perfect"]
    )


class RankingSet(Schema):
    expected_text: ClassVar[str] = "{dataset: ..., config_types: [...]}"
    dataset: str
    config_types: list[str] | None = expect("a list of config_type names", None)
    tie_tolerance_mev_atom: float = expect("a non-negative number (meV/atom)", 0.0, ge=0)


class MaterialFile(Schema):
    """A material file: only ``name``, ``species`` and ``structure`` are required (an empty optional table, written
    as nothing, is the same as leaving it out)."""

    expected_text: ClassVar[str] = "a mapping of material settings"
    name: Annotated[str, checked(_is_name, "a short name of letters, digits, '-' or '_'")]
    description: Annotated[Any, checked(lambda d: not isinstance(d, dict | list), "a text")] = ""
    species: list[str] = expect("a list of element symbols, e.g. [Mo]", min_length=1)
    structure: Crystal
    datasets: Annotated[Datasets, NONE_AS_EMPTY] = Datasets()
    defects: Annotated[Defects, NONE_AS_EMPTY] = Defects()
    surfaces: list[Annotated[list[int], checked(_is_miller, "Miller indices [h, k, l]")]] = expect(
        "a list of Miller indices [h, k, l]", []
    )
    polymorphs: Annotated[dict[str, Any], NONE_AS_EMPTY] = {}
    ranking: Annotated[dict[str, RankingSet], NONE_AS_EMPTY] = expect(
        "a mapping of set name -> {dataset, config_types}", {}
    )
    phonons: Annotated[Phonons, NONE_AS_EMPTY] = Phonons()
    migration: list[str] = expect("a list of paths: vacancy, or interstitial where the prototype has a hop", [])
    reference: str | None = None
    suites: Annotated[dict[str, list[str]], NONE_AS_EMPTY] = expect("a mapping of suite name -> label globs", {})
    md: Annotated[dict[str, Any], NONE_AS_EMPTY] = {}
    liquid: Annotated[dict[str, Any], NONE_AS_EMPTY] = {}
    chemical_potentials: Annotated[dict[str, ElementalCrystal], NONE_AS_EMPTY] = expect(
        "a mapping of species -> {ase_reference: true}, {prototype, a} or {file}", {}
    )


__all__ = ["DATASET_ROLES", "Crystal", "ElementalCrystal", "MaterialFile"]
