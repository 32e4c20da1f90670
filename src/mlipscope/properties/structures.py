"""Relaxations every crystal property shares (ASE optimizers), and the model's relaxed bulk crystal.

Relaxations use ASE optimizers (positions, and the cell through :class:`ase.filters.FrechetCellFilter`); one that
does not reach ``fmax`` within ``max_steps`` raises :class:`~mlipscope.errors.EvaluationError`, which the runner
records as a failed evaluation with that reason. Defect cells, surfaces and the other geometries of a material are
built in :mod:`mlipscope.materials`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.material import Material
from mlipscope.properties.settings import OPTIMIZER_NAMES, RelaxationSettings


class _Optimizers(Mapping):
    """Name -> ASE optimizer class, imported on first lookup: every property module imports this one, and the
    CLI's main process, which only lists the properties, need not load ASE's optimizers and constraints."""

    def __getitem__(self, name: str) -> type:
        if name not in OPTIMIZER_NAMES:
            raise KeyError(name)
        import ase.optimize

        return getattr(ase.optimize, name)

    def __iter__(self) -> Iterator[str]:
        return iter(OPTIMIZER_NAMES)

    def __len__(self) -> int:
        return len(OPTIMIZER_NAMES)


#: the ASE classes of :data:`~mlipscope.properties.settings.OPTIMIZER_NAMES`, in the same order
OPTIMIZERS: Mapping[str, type] = _Optimizers()


def _fix_symmetry(atoms: Atoms, symprec: float) -> Any:
    from ase.constraints import FixSymmetry  # on first use (it loads scipy): see :class:`_Optimizers`

    return FixSymmetry(atoms, symprec=symprec)


#: key of a property's ``details`` holding the structures it relaxed (name -> :func:`structure_record`)
STRUCTURES_KEY = "structures"


def structure_record(atoms: Atoms, energy_ev: float) -> dict[str, Any]:
    """A relaxed structure as plain data for a result's details (positions rounded to 1e-6 Å, a sixth of a
    typical force-convergence displacement): numbers, positions (Å), cell (Å), pbc and its energy (eV)."""
    return {
        "numbers": [int(z) for z in atoms.numbers],
        "positions": np.round(atoms.positions, 6).tolist(),
        "cell": np.round(np.asarray(atoms.cell), 6).tolist(),
        "pbc": [bool(x) for x in atoms.pbc],
        "energy_ev": float(energy_ev),
    }


def atoms_from_record(record: dict[str, Any]) -> Atoms:
    """The :class:`~ase.Atoms` of a :func:`structure_record`."""
    return Atoms(numbers=record["numbers"], positions=record["positions"], cell=record["cell"], pbc=record["pbc"])


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
    from ase.filters import FrechetCellFilter

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


#: the former name of :class:`~mlipscope.properties.settings.RelaxationSettings`
RelaxSettings = RelaxationSettings


def relax_with(
    atoms: Atoms, calculator: Calculator, settings: RelaxationSettings, what: str = "structure"
) -> Relaxation:
    """:func:`relax` with ``settings``; a symmetry constraint is applied for the relaxation and removed after."""
    if settings.fix_symmetry_symprec is not None:
        atoms.set_constraint(_fix_symmetry(atoms, settings.fix_symmetry_symprec))
    try:
        return relax(
            atoms,
            calculator,
            relax_cell=settings.relax_cell,
            hydrostatic=settings.hydrostatic,
            fmax=settings.fmax,
            max_steps=settings.max_steps,
            optimizer=settings.optimizer,
            what=what,
        )
    finally:
        if settings.fix_symmetry_symprec is not None:
            atoms.set_constraint()


def relaxed_bulk(
    calculator: Calculator,
    material: Material,
    a_guess: float | None = None,
    *,
    fmax: float = 1e-4,
    max_steps: int = 500,
    optimizer: str = "BFGS",
) -> tuple[Atoms, float]:
    """The material's conventional cell relaxed at zero pressure (cell and ions) and its lattice constant a (Å).

    A cubic elemental crystal keeps its symmetry under the relaxation (forces vanish by site symmetry), so the
    hydrostatic filter is exact there and avoids spurious shear from numerical noise. Other cells (hcp, compounds
    with internal coordinates, structure files) relax cell shape and ions within their space group
    (:class:`ase.constraints.FixSymmetry`). ``a`` is the length of the first conventional cell vector.
    """
    atoms = material.conventional_cell(a_guess)
    proto = material.prototype
    cubic_element = proto is not None and proto.cubic and proto.n_species == 1
    if not cubic_element:
        atoms.set_constraint(_fix_symmetry(atoms, 1e-3))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "FixSymmetry adjust_cell may be ill behaved", UserWarning)
        relax(
            atoms,
            calculator,
            relax_cell=True,
            hydrostatic=cubic_element,
            fmax=fmax,
            max_steps=max_steps,
            optimizer=optimizer,
            what=f"{material.name} bulk cell",
        )
    atoms.set_constraint()
    if cubic_element:
        return atoms, float(atoms.get_volume() ** (1.0 / 3.0))
    return atoms, float(atoms.cell.lengths()[0])


def isolated_atom_energy_ev(calculator: Calculator, element: str, box_a: float = 20.0) -> float:
    """Energy of one atom alone in a periodic box of side ``box_a`` (far beyond any MLIP cutoff)."""
    atom = Atoms(element, positions=[[0.5 * box_a] * 3], cell=[box_a] * 3, pbc=True)
    atom.calc = calculator
    return float(atom.get_potential_energy())
