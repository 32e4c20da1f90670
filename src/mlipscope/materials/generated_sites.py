"""Interstitial sites of any periodic crystal (a CIF or POSCAR of no known prototype), from pymatgen-analysis-defects.

:func:`generated_interstitial_sites` hands the host to ``pymatgen.analysis.defects.generators.
VoronoiInterstitialGenerator`` (default tolerances) and returns the symmetry-distinct sites it finds, largest void
first. That generator takes the nodes of the Voronoi tessellation of the host atoms (the points farthest from
their nearest atoms, i.e. the centres of the voids), merges nodes closer than ``clustering_tol`` = 0.5 Å, drops
those nearer than ``min_dist`` = 0.9 Å to an atom, and groups the rest into symmetry-equivalent sets with
pymatgen's ``StructureMatcher``, yielding one representative per set. It needs only the geometry. The other
generator of the package, ``ChargeInterstitialGenerator``, puts sites at the minima of a DFT charge density
(a CHGCAR), which a structure file alone does not have. A host that is a supercell is first reduced to its
primitive cell, in the same Cartesian frame, as the generator's cost grows steeply with the number of atoms.

Only Voronoi vertices are candidates: sites on a Voronoi face or edge are not found (bcc's octahedral site: the
generator gives only the tetrahedral one), nor split dumbbells; :mod:`mlipscope.materials.defects` keeps the
prototypes' named interstitials.

The sites depend only on the host geometry: ``species`` names the sites but does not move them (no ionic radius
is used). pymatgen is an optional dependency (``pip install 'mlipscope[defects]'``); it is imported only when a
site is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from mlipscope.errors import InputError

if TYPE_CHECKING:
    from pymatgen.core import Structure

FIELD = "defects.generated_interstitials"
#: nearest-host distances (Å) that agree to this many decimals count as ties, kept in the generator's order
DISTANCE_DECIMALS = 3
#: a primitive cell is used only if its atoms and translations land this close (Å) to host atoms
FRAME_TOLERANCE_A = 1e-3


def generated_interstitial_sites(atoms: Atoms, species: str, max_sites: int = 3) -> list[tuple[str, np.ndarray]]:
    """Up to ``max_sites`` symmetry-distinct interstitial sites for an extra ``species`` atom in the crystal ``atoms``.

    Returns ``(name, fractional coordinates in atoms.cell)`` pairs named ``interstitial_<species>_<n>`` (n from 1),
    ordered by descending distance to the nearest host atom (minimum image), ties in the generator's order; the
    coordinates are wrapped into [0, 1). The same input always gives the same list.
    """
    if species not in chemical_symbols[1:]:
        raise InputError(None, f"{FIELD}.species", "a chemical element symbol such as 'In'", got=species)
    if max_sites < 1:
        raise InputError(None, f"{FIELD}.max_sites", "a positive integer", got=max_sites)
    if len(atoms) == 0 or not all(atoms.pbc) or atoms.cell.rank != 3:
        raise InputError(None, FIELD, "a non-empty crystal, periodic in three dimensions", got=atoms)
    try:
        from pymatgen.analysis.defects.generators import VoronoiInterstitialGenerator
        from pymatgen.io.ase import AseAtomsAdaptor
    except ImportError as exc:
        raise InputError(
            None, FIELD, "the optional package pymatgen-analysis-defects (pip install 'mlipscope[defects]')"
        ) from exc

    # a bare copy: no calculator, constraints, charges or magnetic moments for the adaptor to carry over
    host = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell.array, pbc=True)
    structure = AseAtomsAdaptor.get_structure(host)
    cell = _primitive_in_same_frame(structure)
    try:
        defects = list(VoronoiInterstitialGenerator().generate(cell, [species]))
    except ValueError as exc:  # the generator unpacks an empty candidate list when no void survives its filters
        if "not enough values to unpack" not in str(exc):
            raise
        defects = []

    candidates = []
    for order, defect in enumerate(defects):
        frac = np.asarray(host.cell.scaled_positions(np.asarray(defect.site.coords)[None, :])[0], dtype=float)
        frac = np.round(frac % 1.0, 12) % 1.0
        nearest = float(np.min(structure.lattice.get_all_distances([frac], structure.frac_coords)))
        candidates.append((-round(nearest, DISTANCE_DECIMALS), order, frac))
    candidates.sort(key=lambda item: (item[0], item[1]))
    return [(f"interstitial_{species}_{n}", frac) for n, (_, _, frac) in enumerate(candidates[:max_sites], start=1)]


def _primitive_in_same_frame(structure: Structure) -> Structure:
    """The primitive cell of ``structure`` when it is smaller and in the same Cartesian frame, else ``structure``.

    The generator's cost grows steeply with the number of atoms (a 64-atom Si supercell: about a minute, its
    2-atom primitive cell: well under a second). pymatgen's ``get_primitive_structure`` keeps the Cartesian frame;
    this is checked (its atoms and its lattice translations land on host atoms of the same element), so that the
    sites' Cartesian positions are positions in the host crystal.
    """
    primitive = structure.get_primitive_structure()
    if len(primitive) >= len(structure):
        return structure
    lattice = structure.lattice
    for shift in (np.zeros(3), *primitive.lattice.matrix):
        frac = lattice.get_fractional_coords(primitive.cart_coords + shift)
        distances = lattice.get_all_distances(frac, structure.frac_coords)
        nearest = np.argmin(distances, axis=1)
        if np.max(distances[np.arange(len(primitive)), nearest]) > FRAME_TOLERANCE_A:
            return structure
        if [str(site.specie) for site in primitive] != [str(structure[int(i)].specie) for i in nearest]:
            return structure
    return primitive
