"""Point-defect cells of any material: vacancies per sublattice, the prototype's standard interstitials, NEB hops.

Supercells are ``repeats``³ copies of the material's conventional cell. A defect sits at a *host* atom moved to the
origin: for a vacancy that atom is removed; an interstitial is an extra atom at ``host + site · cell``; a split
dumbbell replaces the host by two atoms at ±(s/2)·direction. Compounds and structure files get one vacancy per
symmetry-inequivalent site (spglib's equivalent atoms of the conventional cell), named ``vacancy_<El>`` (with an
index when one species has several inequivalent sites); elements have one ``vacancy``.

Relaxations start from a slightly perturbed geometry (see :func:`starting_defect_cell`): a random displacement
for vacancies (the Si vacancy relaxes to a lower-symmetry D2d state) and, in the diamond structure, the vacancy's
neighbours pulled inward (in Stillinger–Weber Si the ideal vacancy is a flat local minimum: the neighbours'
distance a/sqrt(2) = 3.84 Å is beyond the 3.77 Å cutoff, so a relaxation from the ideal site never finds the
reconstructed, 1.5 eV lower state).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from mlipscope.errors import InputError
from mlipscope.materials.material import Material

log = logging.getLogger(__name__)

#: the vacancy's neighbours start this fraction of the way toward the empty site (diamond-structure materials)
VACANCY_INWARD_FRACTION = 0.2
INWARD_PROTOTYPES = ("diamond", "zincblende")
#: default random displacement (Å) that breaks the starting symmetry of a vacancy (interstitials keep their
#: named symmetric geometry: an unstable one would otherwise turn into another)
VACANCY_RATTLE_A = 0.02
#: a defect supercell (atoms of the perfect cell) below this warns: the defect's strain field and its periodic
#: images shift the formation energy by tenths of an eV (diamond: the 8- and 16-atom cells; fcc: 32 atoms). About
#: 60 atoms, set below 54 so the 3³ bcc cell of the shipped mo and li materials (the mlearn DFT cell) passes
MIN_DEFECT_SUPERCELL_ATOMS = 50


class SmallSupercellWarning(UserWarning):
    """A defect supercell too small for a formation energy (see :data:`MIN_DEFECT_SUPERCELL_ATOMS`)."""


@dataclass(frozen=True)
class DefectSite:
    """One point defect of a material: ``kind`` "vacancy" or "interstitial"; ``host`` the index, in the
    conventional cell, of the atom at (or next to) which it sits; ``species`` the removed or added element."""

    name: str
    kind: str
    host: int
    species: str
    site_fraction: tuple[float, float, float] | None = None  # generated interstitials: fractional coordinates


def vacancy_sites(material: Material) -> list[DefectSite]:
    """One vacancy per symmetry-inequivalent site of the conventional cell (one for an element)."""
    if len(material.species) == 1 and material.prototype is not None:  # before building the cell: suites ask this
        return [DefectSite("vacancy", "vacancy", 0, material.species[0])]
    import spglib

    cell = material.conventional_cell()
    dataset = spglib.get_symmetry_dataset((cell.cell.array, cell.get_scaled_positions(), cell.numbers), symprec=1e-3)
    equivalent = np.asarray(
        dataset.equivalent_atoms if hasattr(dataset, "equivalent_atoms") else dataset["equivalent_atoms"]
    )
    hosts = sorted(set(int(i) for i in equivalent))
    symbols = cell.get_chemical_symbols()
    per_species: dict[str, list[int]] = {}
    for host in hosts:
        per_species.setdefault(symbols[host], []).append(host)
    sites = []
    for element, indices in per_species.items():
        for k, host in enumerate(indices):
            suffix = f"_{element}" + (f"{k + 1}" if len(indices) > 1 else "")
            sites.append(DefectSite("vacancy" + suffix, "vacancy", host, element))
    return sites


def defect_sites(material: Material) -> list[DefectSite]:
    """The material's point defects: its vacancies (if enabled) then its listed interstitials."""
    sites = vacancy_sites(material) if material.vacancy else []
    sites += [DefectSite(name, "interstitial", 0, material.species[0]) for name in material.interstitials]
    return sites + generated_sites(material)


_GENERATED: dict[str, list[DefectSite]] = {}


def generated_sites(material: Material) -> list[DefectSite]:
    """The material's generated interstitials (``defects.generated_interstitials``), computed once per process
    from its conventional cell by pymatgen-analysis-defects (fractional coordinates do not depend on a)."""
    if not material.generated_interstitials:
        return []
    key = material.fingerprint() + repr(sorted(material.generated_interstitials.items()))
    if key not in _GENERATED:
        from mlipscope.materials.generated_sites import generated_interstitial_sites

        cell = material.conventional_cell()
        try:
            generated_interstitial_sites(cell, material.species[0], 1)
        except InputError as exc:  # the optional package is missing: the material keeps its other defects
            log.warning("%s: no generated interstitials (%s)", material.name, exc.expected)
            return []
        _GENERATED[key] = [
            DefectSite(name, "interstitial", 0, element, tuple(float(x) for x in frac))  # type: ignore[arg-type]
            for element, n in material.generated_interstitials.items()
            for name, frac in generated_interstitial_sites(cell, element, n)
        ]
    return _GENERATED[key]


def warn_small_supercell(material: Material, size: int, what: str) -> None:
    """A :class:`SmallSupercellWarning` when the ``size``-atom supercell of ``what`` is below
    :data:`MIN_DEFECT_SUPERCELL_ATOMS`, naming a size that is not."""
    if size >= MIN_DEFECT_SUPERCELL_ATOMS:
        return
    from mlipscope.materials.structure_files import default_repeats

    larger = material.supercell_size(default_repeats(material.atoms_per_cell))
    warnings.warn(
        f"{material.name}: the {what} supercell of {size} atoms is below {MIN_DEFECT_SUPERCELL_ATOMS} atoms, too small "
        f"for a formation energy or barrier (the defect interacts with its periodic images); use {larger} atoms or "
        "more",
        SmallSupercellWarning,
        stacklevel=3,
    )


def get_defect(material: Material, name: str) -> DefectSite:
    for site in defect_sites(material):
        if site.name == name:
            return site
    raise InputError(
        material.source or None, "defect", f"a defect of {material.name}: {[s.name for s in defect_sites(material)]}",
        got=name,
    )  # fmt: skip


def perfect_supercell(material: Material, repeats: int, a: float | None = None) -> Atoms:
    return material.conventional_cell(a).repeat(repeats)


def _host_at_origin(material: Material, repeats: int, a: float | None, host: int) -> tuple[Atoms, np.ndarray]:
    atoms = perfect_supercell(material, repeats, a)
    origin = atoms.positions[host].copy()
    if host != 0 or not np.allclose(origin, 0.0):  # move the host to the origin (ASE puts atom 0 there already)
        atoms.positions -= origin
        atoms.wrap()
        origin = atoms.positions[host].copy()
    return atoms, origin


def conventional_vectors(material: Material, a: float | None) -> np.ndarray:
    """Rows: the conventional cell vectors (Å) at lattice constant ``a``."""
    return material.conventional_cell(a).cell.array


def defect_cell(material: Material, defect: str, repeats: int, a: float | None = None) -> Atoms:
    """The ideal (unrelaxed) supercell holding ``defect`` (see the module docstring)."""
    site = get_defect(material, defect)
    atoms, origin = _host_at_origin(material, repeats, a, site.host)
    vectors = conventional_vectors(material, a)
    if site.kind == "vacancy":
        del atoms[site.host]
    elif site.site_fraction is not None:  # a generated site: fractional position in the conventional cell
        first = material.conventional_cell(a).positions[site.host]  # where the host sat before the shift
        atoms.append(site.species)
        atoms.positions[-1] = origin + np.asarray(site.site_fraction) @ vectors - first
    else:
        proto = material.prototype
        assert proto is not None  # interstitials need a prototype (checked when the material is loaded)
        spec = proto.interstitial(defect)
        if spec.is_dumbbell:
            direction = np.asarray(spec.direction, dtype=float) @ vectors
            direction /= np.linalg.norm(direction)
            separation = spec.separation_nn * material.nearest_neighbour_distance(a)
            half = 0.5 * separation * direction
            atoms.positions[site.host] = origin + half
            atoms.append(site.species)
            atoms.positions[-1] = origin - half
        else:
            atoms.append(site.species)
            atoms.positions[-1] = origin + np.asarray(spec.site, dtype=float) @ vectors
    atoms.wrap()
    atoms.info["defect"] = defect
    atoms.info["defect_site"] = origin.tolist()
    return atoms


def neighbour_shells(material: Material, a: float | None = None) -> tuple[float, float, int]:
    """(first, second) neighbour-shell distances (Å) of the perfect crystal and the first-shell coordination of
    atom 0."""
    from ase.neighborlist import neighbor_list

    cell = material.conventional_cell(a).repeat(2)
    i, d = neighbor_list("id", cell, 2.0 * material.nearest_neighbour_distance(a))
    own = np.sort(d[i == 0])
    gaps = np.flatnonzero(np.diff(own) > 1e-3)
    first = float(own[0])
    second = float(own[gaps[0] + 1]) if len(gaps) else 1.5 * first
    return first, second, int(np.sum(own < 0.5 * (first + second)))


def neighbour_shell_cutoff(material: Material, a: float | None = None) -> float:
    """The distance halfway between the first and second neighbour shells of the perfect crystal (Å): a bond
    cutoff (diamond: (sqrt(3)/4 + 1/sqrt(2)) a / 2)."""
    first, second, _ = neighbour_shells(material, a)
    return 0.5 * (first + second)


def pull_neighbours_toward(atoms: Atoms, site: np.ndarray, fraction: float, cutoff_a: float) -> list[int]:
    """Move every atom within ``cutoff_a`` of ``site`` (minimum image) a ``fraction`` of the way toward it;
    returns their indices."""
    vectors = atoms.positions - site
    frac = np.linalg.solve(atoms.cell.array.T, vectors.T).T
    vectors -= np.round(frac) @ atoms.cell.array
    near = np.flatnonzero(np.linalg.norm(vectors, axis=1) < cutoff_a)
    atoms.positions[near] -= fraction * vectors[near]
    return [int(i) for i in near]


def inward_fraction(material: Material) -> float:
    proto = material.prototype
    return VACANCY_INWARD_FRACTION if proto is not None and proto.name in INWARD_PROTOTYPES else 0.0


def starting_defect_cell(
    material: Material,
    defect: str,
    repeats: int,
    a: float | None = None,
    *,
    rattle_a: float | None = None,
    seed: int = 0,
) -> Atoms:
    """:func:`defect_cell` prepared for relaxation: vacancy neighbours pulled inward (diamond structures), then a
    rattle of standard deviation ``rattle_a`` (Å; :data:`VACANCY_RATTLE_A` for vacancies, 0 for interstitials,
    when None) with a fixed ``seed``."""
    atoms = defect_cell(material, defect, repeats, a)
    site = get_defect(material, defect)
    if site.kind == "vacancy" and inward_fraction(material) > 0.0:
        centre = np.array(atoms.info["defect_site"])
        pull_neighbours_toward(atoms, centre, inward_fraction(material), neighbour_shell_cutoff(material, a))
    stdev = starting_rattle_a(material, defect, rattle_a)
    if stdev > 0.0:
        atoms.rattle(stdev=stdev, seed=seed)
    return atoms


def starting_rattle_a(material: Material, defect: str, rattle_a: float | None = None) -> float:
    """The rattle (Å) :func:`starting_defect_cell` applies: ``rattle_a``, or the per-defect default when None."""
    if rattle_a is not None:
        return float(rattle_a)
    return VACANCY_RATTLE_A if get_defect(material, defect).kind == "vacancy" else 0.0


def migration_endpoints(material: Material, path: str, repeats: int, a: float) -> tuple[Atoms, Atoms]:
    """Unrelaxed (initial, final) structures of one defect jump, same atom order.

    ``vacancy``: the neighbour at the prototype's hop vector (the nearest same-species neighbour for structure
    files) jumps into the vacancy; ``interstitial``: the interstitial moves by the prototype's hop vector between
    equivalent sites (diamond: tetrahedral -> tetrahedral through the hexagonal site).
    """
    vectors = conventional_vectors(material, a)
    proto = material.prototype
    if path == "vacancy":
        site = vacancy_sites(material)[0]
        initial = defect_cell(material, site.name, repeats, a)
        origin = np.array(initial.info["defect_site"])
        if proto is not None:
            target = origin + np.asarray(proto.vacancy_hop, dtype=float) @ vectors
        else:
            target = _nearest_same_species(initial, origin, site.species)
        jumper = int(np.argmin(np.linalg.norm(initial.positions - target, axis=1)))
        final = initial.copy()
        final.positions[jumper] = origin
        vacated = initial.positions[jumper].copy()
        fraction = inward_fraction(material)
        if fraction > 0.0:
            cutoff = neighbour_shell_cutoff(material, a)
            pull_neighbours_toward(initial, origin, fraction, cutoff)
            pull_neighbours_toward(final, vacated, fraction, cutoff)
    elif path == "interstitial":
        if proto is None or proto.interstitial_hop is None:
            raise InputError(material.source or None, "migration", "a prototype with an interstitial hop", got=path)
        start_site, hop = proto.interstitial_hop
        initial = defect_cell(material, start_site, repeats, a)  # the interstitial is appended last
        final = initial.copy()
        final.positions[-1] = initial.positions[-1] + np.asarray(hop, dtype=float) @ vectors
    else:
        raise InputError(None, "defect", "one of ['vacancy', 'interstitial']", got=path)
    final.wrap()
    return initial, final


def _nearest_same_species(atoms: Atoms, point: np.ndarray, species: str) -> np.ndarray:
    from ase.geometry import find_mic

    same = [i for i, s in enumerate(atoms.get_chemical_symbols()) if s == species]
    d, lengths = find_mic(atoms.positions[same] - point, atoms.cell, pbc=True)
    return point + d[int(np.argmin(lengths))]
