"""Crystal and point-defect cells, and the relaxations every crystal property shares.

Cells are built with :func:`ase.build.bulk` (cubic conventional cell, repeated ``n`` times along each axis). Defect
geometries refer to the diamond structure with basis (0,0,0), (1/4,1/4,1/4) in the conventional cell of side ``a``;
the defect sits at the atom at the origin (or next to it):

- vacancy: that atom removed;
- tetrahedral interstitial: extra atom at (1/2,1/2,1/2)·a, four neighbours at the bond length sqrt(3)/4·a;
- hexagonal interstitial: extra atom at (5/8,5/8,5/8)·a, the centre of a six-ring, six neighbours at sqrt(11)/8·a;
- split <110> dumbbell: that atom replaced by two atoms at ±(s/2)·[110]/sqrt(2) about its site.

Relaxations use ASE optimizers (positions, and the cell through :class:`ase.filters.FrechetCellFilter`); one that
does not reach ``fmax`` within ``max_steps`` raises :class:`~mlipscope.errors.EvaluationError`, which the runner
records as a failed evaluation with that reason.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS

from mlipscope.errors import EvaluationError, InputError

DEFECTS = ("vacancy", "tetrahedral", "hexagonal", "dumbbell")
CUBIC_CRYSTALS = ("diamond", "fcc", "bcc", "sc")
OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS}
#: atoms in the cubic conventional cell of each crystal structure
ATOMS_PER_CONVENTIONAL_CELL = {"diamond": 8, "fcc": 4, "bcc": 2, "sc": 1}
#: the vacancy's neighbours start this fraction of the way toward the empty site (see pull_neighbours_toward)
VACANCY_INWARD_FRACTION = 0.2
#: default random displacement (Å) that breaks the starting symmetry: the Si vacancy relaxes to a lower-symmetry
#: (D2d) state; interstitials keep their named symmetric geometry (an unstable one would otherwise turn into another)
DEFAULT_RATTLE_A = {"vacancy": 0.02, "tetrahedral": 0.0, "hexagonal": 0.0, "dumbbell": 0.0}
#: initial separation of the two atoms of the <110> dumbbell, as a fraction of a (≈ the bond length in Si: the
#: relaxed SW/DFT dumbbells are 2.3–2.5 Å long, so the relaxation starts close to its minimum)
DUMBBELL_SEPARATION_FRACTION = 0.44


def conventional_cell(element: str = "Si", crystal: str = "diamond", a: float | None = None) -> Atoms:
    """Cubic conventional cell of ``crystal`` (``a`` in Å; ASE's reference lattice constant when None)."""
    if crystal not in CUBIC_CRYSTALS:
        raise InputError(None, "crystal", f"one of {list(CUBIC_CRYSTALS)}", got=crystal)
    return bulk(element, crystal, a=a, cubic=True)


def perfect_cell(element: str = "Si", repeats: int = 1, a: float | None = None, crystal: str = "diamond") -> Atoms:
    """``repeats`` x ``repeats`` x ``repeats`` supercell of the conventional cell."""
    return conventional_cell(element, crystal, a).repeat(repeats)


def repeats_for_size(size: int, crystal: str = "diamond", field: str = "size") -> int:
    """Number of conventional cells per side of a cubic supercell of ``size`` atoms (64 -> 2, 216 -> 3 for
    diamond); defect cells have ``size`` ± 1 atoms."""
    per_cell = ATOMS_PER_CONVENTIONAL_CELL.get(crystal, 0)
    n = round((size / per_cell) ** (1.0 / 3.0)) if per_cell and size > 0 else 0
    if n < 1 or per_cell * n**3 != size:
        allowed = [per_cell * k**3 for k in range(1, 5)]
        raise InputError(None, field, f"a cubic {crystal} supercell size, one of {allowed}", got=size)
    return n


def defect_cell(
    defect: str,
    repeats: int = 2,
    element: str = "Si",
    a: float | None = None,
    dumbbell_separation_a: float | None = None,
) -> Atoms:
    """Diamond supercell (``repeats`` conventional cells per side) holding one point defect (see module doc)."""
    if defect not in DEFECTS:
        raise InputError(None, "defect", f"one of {list(DEFECTS)}", got=defect)
    atoms = perfect_cell(element, repeats, a, "diamond")
    lattice_a = float(atoms.cell.lengths()[0]) / repeats
    origin = atoms.positions[0].copy()
    if not np.allclose(atoms.get_scaled_positions()[0], 0.0):
        raise AssertionError("ase.build.bulk no longer puts the first diamond atom at the origin")
    if defect == "vacancy":
        del atoms[0]
    elif defect == "tetrahedral":
        atoms.append(element)
        atoms.positions[-1] = origin + lattice_a * np.array([0.5, 0.5, 0.5])
    elif defect == "hexagonal":
        atoms.append(element)
        atoms.positions[-1] = origin + lattice_a * np.array([0.625, 0.625, 0.625])
    else:
        separation = dumbbell_separation_a or DUMBBELL_SEPARATION_FRACTION * lattice_a
        half = 0.5 * separation * np.array([1.0, 1.0, 0.0]) / np.sqrt(2.0)
        atoms.positions[0] = origin + half
        atoms.append(element)
        atoms.positions[-1] = origin - half
    atoms.wrap()
    atoms.info["defect"] = defect
    atoms.info["defect_site"] = origin.tolist()
    return atoms


def starting_defect_cell(
    defect: str,
    repeats: int = 2,
    element: str = "Si",
    a: float | None = None,
    *,
    rattle_a: float | None = None,
    seed: int = 0,
) -> Atoms:
    """:func:`defect_cell` prepared for relaxation: vacancy neighbours pulled inward, then a rattle of standard
    deviation ``rattle_a`` (Å; :data:`DEFAULT_RATTLE_A` when None) with a fixed ``seed``."""
    atoms = defect_cell(defect, repeats, element, a)
    lattice_a = float(atoms.cell.lengths()[0]) / repeats
    if defect == "vacancy":  # nearest neighbours are at 0.433 a, second neighbours at 0.707 a
        site = np.array(atoms.info["defect_site"])
        pull_neighbours_toward(atoms, site, VACANCY_INWARD_FRACTION, cutoff_a=0.55 * lattice_a)
    stdev = DEFAULT_RATTLE_A[defect] if rattle_a is None else rattle_a
    if stdev > 0.0:
        atoms.rattle(stdev=stdev, seed=seed)
    return atoms


def pull_neighbours_toward(atoms: Atoms, site: np.ndarray, fraction: float, cutoff_a: float) -> list[int]:
    """Move every atom within ``cutoff_a`` of ``site`` (minimum image) a ``fraction`` of the way toward it;
    returns their indices.

    Used to start a vacancy relaxation from inward-relaxed neighbours: in Stillinger–Weber Si the ideal vacancy is
    a flat local minimum (the neighbours' distance, a/sqrt(2) = 3.84 Å, is beyond the 3.77 Å cutoff), so a
    relaxation from the ideal site never finds the reconstructed, 1.5 eV lower state.
    """
    vectors = atoms.positions - site
    frac = np.linalg.solve(atoms.cell.array.T, vectors.T).T
    vectors -= np.round(frac) @ atoms.cell.array
    near = np.flatnonzero(np.linalg.norm(vectors, axis=1) < cutoff_a)
    atoms.positions[near] -= fraction * vectors[near]
    return [int(i) for i in near]


@dataclass(frozen=True)
class Relaxation:
    """Outcome of :func:`relax`: final energy (eV), steps taken and the largest remaining force (eV/Å)."""

    energy_ev: float
    n_steps: int
    max_force_ev_a: float
    converged: bool


def relax(
    atoms: Atoms,
    calculator: Calculator,
    *,
    relax_cell: bool = False,
    fmax: float = 1e-3,
    max_steps: int = 1000,
    optimizer: str = "BFGS",
    hydrostatic: bool = False,
    what: str = "structure",
    raise_on_failure: bool = True,
) -> Relaxation:
    """Relax ``atoms`` in place: positions, and with ``relax_cell`` the cell too (zero pressure).

    Raises :class:`EvaluationError` naming ``what`` if ``fmax`` is not reached within ``max_steps``
    (unless ``raise_on_failure`` is False, in which case ``converged`` is False).
    """
    if optimizer not in OPTIMIZERS:
        raise InputError(None, "optimizer", f"one of {list(OPTIMIZERS)}", got=optimizer)
    atoms.calc = calculator
    with warnings.catch_warnings():
        # FrechetCellFilter's matrix logarithm warns about ~1e-12 inaccuracy for near-identity deformations
        warnings.filterwarnings("ignore", "logm result may be inaccurate", RuntimeWarning)
        return _relax(atoms, calculator, relax_cell, fmax, max_steps, optimizer, hydrostatic, what, raise_on_failure)


def _relax(
    atoms: Atoms,
    calculator: Calculator,
    relax_cell: bool,
    fmax: float,
    max_steps: int,
    optimizer: str,
    hydrostatic: bool,
    what: str,
    raise_on_failure: bool,
) -> Relaxation:
    target = FrechetCellFilter(atoms, hydrostatic_strain=hydrostatic) if relax_cell else atoms
    opt = OPTIMIZERS[optimizer](target, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=max_steps))
    max_force = float(np.sqrt((target.get_forces() ** 2).sum(axis=1)).max()) if len(atoms) else 0.0
    if not converged and raise_on_failure:
        raise EvaluationError(
            f"relaxation of the {what} did not converge: max force {max_force:.3g} eV/Å "
            f"> fmax {fmax:g} after {opt.nsteps} {optimizer} steps"
        )
    return Relaxation(float(atoms.get_potential_energy()), int(opt.nsteps), max_force, converged)


def relaxed_bulk(
    calculator: Calculator,
    element: str = "Si",
    crystal: str = "diamond",
    a_guess: float | None = None,
    *,
    fmax: float = 1e-4,
    max_steps: int = 500,
    optimizer: str = "BFGS",
) -> tuple[Atoms, float]:
    """The conventional cell relaxed at zero pressure (cell and ions) and its lattice constant a (Å).

    A cubic crystal keeps its symmetry under the relaxation (forces vanish by site symmetry), so the hydrostatic
    filter is exact here and avoids spurious shear from numerical noise.
    """
    atoms = conventional_cell(element, crystal, a_guess)
    relax(
        atoms,
        calculator,
        relax_cell=True,
        hydrostatic=True,
        fmax=fmax,
        max_steps=max_steps,
        optimizer=optimizer,
        what=f"{element} {crystal} bulk cell",
    )
    return atoms, float(atoms.get_volume() ** (1.0 / 3.0))


def isolated_atom_energy_ev(calculator: Calculator, element: str = "Si", box_a: float = 20.0) -> float:
    """Energy of one atom alone in a periodic box of side ``box_a`` (far beyond any MLIP cutoff)."""
    atom = Atoms(element, positions=[[0.5 * box_a] * 3], cell=[box_a] * 3, pbc=True)
    atom.calc = calculator
    return float(atom.get_potential_energy())
