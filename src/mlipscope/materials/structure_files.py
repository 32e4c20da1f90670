"""Structure files (CIF, POSCAR, ...) that hold a known prototype: detection, and the defects a file material gets.

:func:`detect_prototype` recognises the crystals of :data:`~mlipscope.materials.prototypes.PROTOTYPES` with spglib:
the space group number, the number of atoms in the primitive cell, one orbit (Wyckoff position) per species and
its letter identify the prototype (:data:`SIGNATURES`; the letters allowed are the settings of the same crystal
with another origin: primitive diamond comes out at 8b, the cubic cell at 8a). The lattice constant(s) are read
from spglib's standardised conventional cell (cubic: a = V^(1/3) of that cell), and the
prototype built at them is compared with the file: the standardised cells must agree in lattice and, up to an
origin shift or an inversion, in every atom (species included). A file that matches no prototype, or matches in
symmetry only, keeps the generic structure-file route.

A material whose structure file is detected is built from the prototype (its standard interstitials and migration
hops, labels as for a material given by ``prototype``). :func:`structure_file_defaults` gives a file material that
leaves out ``defects``, ``migration``, ``surfaces`` or ``phonons`` those of the shipped material of the same
prototype (the same species first, then the default material si, then by name), so a diamond-Si CIF gets si's
defect, migration, surface and phonon labels. A prototype no shipped material has gets all its standard
interstitials, the vacancy hop and its interstitial hop; a file of no known prototype gets a vacancy. Both get the
smallest cubic repetition of at least :data:`DEFAULT_SUPERCELL_ATOMS` atoms.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from mlipscope.materials.prototypes import PROTOTYPES, get_prototype

#: spglib symmetry tolerance (Å): a CIF rounded to 4-5 decimals is still recognised
SYMPREC_A = 1e-3
#: a standardised lattice or atom of the file and of the prototype built from it agree to this (Å)
MATCH_TOLERANCE_A = 1e-2
#: lattice constants are rounded to this many decimals (Å): the last bits of V^(1/3) are not part of a material's
#: stored identity
LATTICE_DECIMALS = 8
#: default defect supercells of structure files hold at least this many atoms (a formation energy needs the
#: defect's strain field to decay inside the cell; 64-atom diamond and 108-atom fcc cells are the usual minimum)
DEFAULT_SUPERCELL_ATOMS = 60
#: the entries of a shipped material that depend only on its crystal (no data): a structure file of the same
#: prototype that leaves them out gets them
CRYSTAL_KEYS = ("defects", "migration", "surfaces", "phonons")


@dataclass(frozen=True)
class Signature:
    """What spglib finds for a prototype: space group number, atoms in the primitive cell, species, and the
    Wyckoff letters one species' orbit may sit on (each species is one orbit)."""

    space_group: int
    n_primitive: int
    n_species: int
    wyckoff_letters: frozenset[str]


SIGNATURES: dict[str, Signature] = {
    "diamond": Signature(227, 2, 1, frozenset("ab")),  # Fd-3m, 8a (or 8b)
    "zincblende": Signature(216, 2, 2, frozenset("abcd")),  # F-43m, two of 4a-4d a quarter diagonal apart
    "rocksalt": Signature(225, 2, 2, frozenset("ab")),  # Fm-3m, 4a + 4b
    "fcc": Signature(225, 1, 1, frozenset("ab")),  # Fm-3m, 4a
    "bcc": Signature(229, 1, 1, frozenset("a")),  # Im-3m, 2a
    "sc": Signature(221, 1, 1, frozenset("ab")),  # Pm-3m, 1a
    "hcp": Signature(194, 2, 1, frozenset("cd")),  # P6_3/mmc, 2c (or 2d)
}


@dataclass(frozen=True)
class DetectedPrototype:
    """A structure file recognised as ``prototype`` with lattice constant ``a`` (Å; hcp also ``c``)."""

    prototype: str
    a: float
    c: float | None = None


def _spglib_cell(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers


def _spglib(function: str, atoms: Atoms, **kwargs: Any) -> Any:
    """``spglib.<function>`` of ``atoms`` at :data:`SYMPREC_A`, None where spglib fails (spglib 2 returns None and
    warns about its error handling, later versions raise)."""
    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return getattr(spglib, function)(_spglib_cell(atoms), symprec=SYMPREC_A, **kwargs)
        except Exception:  # noqa: BLE001 - spglib's own error (SpglibError in spglib >= 2.5): no symmetry found
            return None


def _signature_of(atoms: Atoms) -> Signature | None:
    """What spglib finds for the file (``wyckoff_letters``: those its orbits sit on); None where it finds no
    symmetry or a species spans several orbits (no prototype of ours)."""
    dataset = _spglib("get_symmetry_dataset", atoms)
    primitive = _spglib("standardize_cell", atoms, to_primitive=True)
    if dataset is None or primitive is None:
        return None

    def field(name: str) -> Any:  # spglib >= 2.5: attributes; before: a dict
        return getattr(dataset, name) if hasattr(dataset, name) else dataset[name]

    orbits = {int(i) for i in field("equivalent_atoms")}
    species = set(atoms.get_chemical_symbols())
    if len(orbits) != len(species):
        return None
    letters = frozenset(str(field("wyckoffs")[i]) for i in orbits)
    return Signature(int(field("number")), len(primitive[2]), len(species), letters)


def detect_prototype(atoms: Atoms, species: tuple[str, ...]) -> DetectedPrototype | None:
    """The prototype the crystal ``atoms`` is (see the module docstring), or None. ``species`` are the material's
    species in its order (a compound's first species sits at the prototype's origin)."""
    found = _signature_of(atoms)
    if found is None:
        return None
    for name, expected in SIGNATURES.items():
        same_group = (found.space_group, found.n_primitive, found.n_species) == (
            expected.space_group,
            expected.n_primitive,
            expected.n_species,
        )
        if not same_group or not found.wyckoff_letters <= expected.wyckoff_letters:
            continue
        a, c = _lattice_constants(atoms, name)
        if _same_crystal(atoms, _built(name, species, a, c)):
            return DetectedPrototype(name, a, c)
    return None


def _standardized(atoms: Atoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """spglib's standardised conventional cell (found before for the same atoms: it does not fail here)."""
    lattice, positions, numbers = _spglib("standardize_cell", atoms)
    return np.asarray(lattice), np.asarray(positions) % 1.0, np.asarray(numbers)


def _lattice_constants(atoms: Atoms, name: str) -> tuple[float, float | None]:
    """(a, c) of the file's standardised conventional cell (Å): cubic a = V^(1/3); hcp its a and c."""
    lattice, _, _ = _standardized(atoms)
    if name == "hcp":
        lengths = np.linalg.norm(lattice, axis=1)
        return round(float(lengths[0]), LATTICE_DECIMALS), round(float(lengths[2]), LATTICE_DECIMALS)
    return round(float(abs(np.linalg.det(lattice)) ** (1.0 / 3.0)), LATTICE_DECIMALS), None


def _built(name: str, species: tuple[str, ...], a: float, c: float | None) -> Atoms:
    from ase.build import bulk

    proto = get_prototype(name)
    if name == "hcp":
        return bulk(species[0], "hcp", a=a, covera=c / a if c else proto.covera)
    symbol = "".join(species) if proto.n_species == 2 else species[0]
    return bulk(symbol, proto.ase_crystal, a=a, cubic=proto.cubic)


def _same_crystal(atoms: Atoms, prototype: Atoms) -> bool:
    """Both standardised cells agree: the lattice, and every atom with its species up to an origin shift (or an
    inversion: a zincblende cell comes out on 4a+4c or 4a+4d)."""
    lattice, positions, numbers = _standardized(atoms)
    lattice_p, positions_p, numbers_p = _standardized(prototype)
    if len(numbers) != len(numbers_p) or not np.allclose(lattice, lattice_p, atol=MATCH_TOLERANCE_A):
        return False
    for sign in (1.0, -1.0):
        moved = (sign * positions_p) % 1.0
        for j in range(len(moved)):
            shifted = (moved - moved[j] + positions[0]) % 1.0
            if _same_sites(positions, numbers, shifted, numbers_p, lattice):
                return True
    return False


def _same_sites(positions: np.ndarray, numbers: np.ndarray, other: np.ndarray, other_numbers: np.ndarray,
                lattice: np.ndarray) -> bool:  # fmt: skip
    """Every atom of ``positions`` has an atom of the same element in ``other`` within the tolerance."""
    for frac, number in zip(positions, numbers, strict=True):
        delta = other[other_numbers == number] - frac
        delta -= np.round(delta)
        if not len(delta) or np.min(np.linalg.norm(delta @ lattice, axis=1)) > MATCH_TOLERANCE_A:
            return False
    return True


# -- defaults of a structure-file material ---------------------------------------------------------------------


def default_repeats(atoms_per_cell: int, min_atoms: int = DEFAULT_SUPERCELL_ATOMS) -> int:
    """The smallest n with ``atoms_per_cell`` · n³ ≥ ``min_atoms``."""
    return next(n for n in itertools.count(1) if atoms_per_cell * n**3 >= min_atoms)


def structure_file_defaults(prototype: str | None, species: tuple[str, ...], atoms_per_cell: int) -> dict[str, Any]:
    """Material-file entries for a structure-file material that leaves them out: the :data:`CRYSTAL_KEYS` of the
    shipped material of the detected ``prototype`` (see the module docstring), else ``defects`` and ``migration``
    defaults."""
    if prototype is not None:
        shipped = shipped_exemplar(prototype, species)
        if shipped is not None:
            return {key: shipped[key] for key in CRYSTAL_KEYS if shipped.get(key) is not None}
        proto = PROTOTYPES[prototype]
        defects = {
            "supercells": [default_repeats(proto.atoms_per_cell)],
            "vacancy": True,
            "interstitials": [site.name for site in proto.interstitials],
        }
        return {"defects": defects, "migration": ["vacancy"] + (["interstitial"] if proto.interstitial_hop else [])}
    return {"defects": {"supercells": [default_repeats(atoms_per_cell)], "vacancy": True}}


def shipped_exemplar(prototype: str, species: tuple[str, ...]) -> dict[str, Any] | None:
    """The raw file of the shipped material given as ``prototype`` (same species first, then the default
    material, then by name), or None."""
    import yaml

    from mlipscope.materials import DEFAULT_MATERIAL, shipped_dir

    candidates = []
    for path in sorted(shipped_dir().glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if isinstance(data, dict) and (data.get("structure") or {}).get("prototype") == prototype:
            rank = (list(data.get("species") or []) != list(species), data.get("name") != DEFAULT_MATERIAL)
            candidates.append((rank, path.stem, data))
    return min(candidates, key=lambda item: item[:2])[2] if candidates else None
