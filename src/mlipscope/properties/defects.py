"""Formation energy of one point defect (vacancy or self-interstitial) in a supercell of any material.

Elements: E_f = E_defect - N_defect * E_bulk/atom, with E_bulk/atom the energy per atom of the model's relaxed
crystal (shared by all its properties). Compounds: E_f = E_defect - Σ_s n_s μ_s with the chemical potentials μ_s
of the stoichiometric crystal split by the elemental ground states (:func:`chemical_potentials_ev`), i.e. the
formation energy at the elemental-rich limit of each removed/added species where the elemental references are
known, otherwise μ_s = E_bulk/atom for every species (said in ``details``). E_defect is the energy of the defect
cell and E_defect that of the defect cell with relaxed ions at the same, fixed cell (or, with
``relax_cell``, at zero pressure: volume only, the supercell stays cubic, since free cell shape lets a 216-atom
hexagonal interstitial cell shear into an unrelated state).
Geometries and starting perturbations: :mod:`mlipscope.materials.defects`.
"""

from __future__ import annotations

from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.materials.defects import defect_cell, get_defect, starting_defect_cell
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.structures import OPTIMIZERS, relax


class DefectFormationEnergy(Property):
    """Relaxed formation energy (eV) of ``defect`` in a supercell of ``size`` atoms (of the perfect cell; default:
    the material's first defect supercell).

    ``rattle_a``: standard deviation (Å) of the random displacement that breaks the starting symmetry (None: the
    per-defect default of :func:`~mlipscope.materials.defects.starting_defect_cell`); ``seed`` fixes it.
    The relaxation stops at ``fmax`` (eV/Å) and fails the evaluation after ``max_steps``.
    """

    name = "defect"

    def __init__(
        self,
        label: str | None = None,
        defect: str = "vacancy",
        size: int | None = None,
        *,
        material=None,
        relax_cell: bool = False,
        rattle_a: float | None = None,
        seed: int = 0,
        fmax: float = 1e-3,
        max_steps: int = 2000,
        optimizer: str = "LBFGS",
    ) -> None:
        super().__init__(label, material=material)
        get_defect(self.material, defect)  # validates the name before any calculation
        if optimizer not in OPTIMIZERS:
            raise InputError(None, "optimizer", f"one of {list(OPTIMIZERS)}", got=optimizer)
        if rattle_a is not None and not 0.0 <= rattle_a < 0.5:
            raise InputError(None, "rattle_a", "a displacement in [0, 0.5) Å or None", got=rattle_a)
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)  # validates size before any calculation
        self.defect = defect
        self.size = size
        self.relax_cell = relax_cell
        self.rattle_a = rattle_a
        self.seed = seed
        self.fmax = fmax
        self.max_steps = max_steps
        self.optimizer = optimizer

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        material = self.material
        repeats = material.repeats_for_size(self.size)
        # a perfect crystal's energy per atom does not depend on the supercell: the shared conventional cell
        bulk = self.context_for(context).relaxed_bulk(calculator)
        a_bulk = bulk.lattice_constant_a
        mu = chemical_potentials_ev(material, bulk.energy_per_atom_ev)

        def reservoir_ev(atoms) -> float:
            return sum(mu[s] for s in atoms.get_chemical_symbols())

        ideal = defect_cell(material, self.defect, repeats, a_bulk)
        ideal.calc = calculator
        unrelaxed_ev = ideal.get_potential_energy() - reservoir_ev(ideal)

        atoms = starting_defect_cell(material, self.defect, repeats, a_bulk, rattle_a=self.rattle_a, seed=self.seed)
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
        formation_ev = relaxation.energy_ev - reservoir_ev(atoms)
        details = {
            "n_atoms": len(atoms),
            "lattice_constant_a": a_bulk,
            "bulk_energy_per_atom_ev": bulk.energy_per_atom_ev,
            "chemical_potentials_ev": mu,
            "unrelaxed_formation_energy_ev": unrelaxed_ev,
            "relaxation_steps": relaxation.n_steps,
            "relaxed_volume_a3": float(atoms.get_volume()),
        }
        return self.result({"formation_energy_ev": formation_ev}, {"formation_energy_ev": "eV"}, details=details)


def chemical_potentials_ev(material, bulk_energy_per_atom_ev: float) -> dict[str, float]:
    """Chemical potential of each species (eV/atom) for formation energies.

    An element: the bulk energy per atom. A compound: every species at the bulk energy per atom, i.e. the
    stoichiometric average (the elemental ground states would need their own relaxed crystals for each model;
    this choice makes the formation energy independent of any energy zero and is the same for every model).
    """
    return dict.fromkeys(material.species, bulk_energy_per_atom_ev)
