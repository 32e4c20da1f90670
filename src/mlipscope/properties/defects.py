"""Formation energy of one point defect (vacancy or self-interstitial) in a diamond supercell.

E_f = E_defect - (N_defect / N_bulk) * E_bulk, with E_bulk the energy of the perfect supercell at its relaxed
lattice constant and E_defect that of the defect cell with relaxed ions at the same, fixed cell (or, with
``relax_cell``, at zero pressure: volume only, the supercell stays cubic, since free cell shape lets a 216-atom
hexagonal interstitial cell shear into an unrelated state).
Geometries and starting perturbations: :mod:`mlipscope.properties.structures`.
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.structures import (
    DEFECTS,
    OPTIMIZERS,
    defect_cell,
    relax,
    relaxed_bulk,
    repeats_for_size,
    starting_defect_cell,
)


class DefectFormationEnergy(Property):
    """Relaxed formation energy (eV) of ``defect`` in a supercell of ``size`` atoms (64 or 216 for the perfect cell).

    ``rattle_a``: standard deviation (Å) of the random displacement that breaks the starting symmetry (None: the
    per-defect default of :data:`~mlipscope.properties.structures.DEFAULT_RATTLE_A`); ``seed`` fixes it.
    The relaxation stops at ``fmax`` (eV/Å) and fails the evaluation after ``max_steps``.
    """

    name = "defect"

    def __init__(
        self,
        label: str | None = None,
        defect: str = "vacancy",
        size: int = 64,
        element: str = "Si",
        relax_cell: bool = False,
        rattle_a: float | None = None,
        seed: int = 0,
        fmax: float = 1e-3,
        max_steps: int = 2000,
        optimizer: str = "LBFGS",
    ) -> None:
        super().__init__(label)
        if defect not in DEFECTS:
            raise InputError(None, "defect", f"one of {list(DEFECTS)}", got=defect)
        if optimizer not in OPTIMIZERS:
            raise InputError(None, "optimizer", f"one of {list(OPTIMIZERS)}", got=optimizer)
        if rattle_a is not None and not 0.0 <= rattle_a < 0.5:
            raise InputError(None, "rattle_a", "a displacement in [0, 0.5) Å or None", got=rattle_a)
        repeats_for_size(size)  # validates size before any calculation
        self.defect = defect
        self.size = size
        self.element = element
        self.relax_cell = relax_cell
        self.rattle_a = rattle_a
        self.seed = seed
        self.fmax = fmax
        self.max_steps = max_steps
        self.optimizer = optimizer

    def compute(self, calculator: Calculator) -> PropertyResult:
        repeats = repeats_for_size(self.size)
        # a perfect crystal's energy per atom does not depend on the supercell: relax the conventional cell only
        bulk, a_bulk = relaxed_bulk(calculator, self.element, optimizer="BFGS")
        e_bulk_per_atom_ev = bulk.get_potential_energy() / len(bulk)

        ideal = defect_cell(self.defect, repeats, self.element, a_bulk)
        ideal.calc = calculator
        unrelaxed_ev = ideal.get_potential_energy() - len(ideal) * e_bulk_per_atom_ev

        atoms = starting_defect_cell(self.defect, repeats, self.element, a_bulk, rattle_a=self.rattle_a, seed=self.seed)
        relaxation = relax(
            atoms,
            calculator,
            relax_cell=self.relax_cell,
            hydrostatic=True,
            fmax=self.fmax,
            max_steps=self.max_steps,
            optimizer=self.optimizer,
            what=f"{self.defect} cell ({len(atoms)} atoms)",
        )
        formation_ev = relaxation.energy_ev - len(atoms) * e_bulk_per_atom_ev
        details = {
            "n_atoms": len(atoms),
            "lattice_constant_a": a_bulk,
            "bulk_energy_per_atom_ev": e_bulk_per_atom_ev,
            "unrelaxed_formation_energy_ev": unrelaxed_ev,
            "relaxation_steps": relaxation.n_steps,
            "relaxed_volume_a3": float(atoms.get_volume()),
        }
        return self.result({"formation_energy_ev": formation_ev}, {"formation_energy_ev": "eV"}, details=details)
