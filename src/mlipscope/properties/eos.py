"""Equation of state of the material's ground-state crystal: lattice constant, bulk modulus, cohesive energy.

The model's relaxed conventional cell (shared by all its properties, see :mod:`.context`) is scaled uniformly over
a small volume range and the energy–volume points fitted with a Birch–Murnaghan curve
(:class:`ase.eos.EquationOfState`). Atoms of the cubic prototypes sit on sites whose coordinates do not change
under uniform scaling, so no ion relaxation is needed; for cells with free internal coordinates the curve is the
clamped-ion one. ``lattice_constant_a`` scales the relaxed a (the first cell vector) to the fitted minimum volume.
The cohesive energy is the composition-weighted isolated-atom energy minus the bulk energy per atom.
"""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator
from ase.eos import EquationOfState as AseEquationOfState

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.structures import STRUCTURES_KEY, isolated_atom_energy_ev, structure_record
from mlipscope.units import EV_PER_A3_TO_GPA


class EquationOfState(Property):
    """lattice_constant_a (Å), bulk_modulus_gpa, energy_per_atom_ev (at the fitted minimum) and cohesive_energy_ev
    (isolated-atom energy minus bulk energy per atom).

    ``volume_range``: relative half-width of the fitted volume range (0.05: 0.95–1.05 V0) sampled at ``n_points``;
    The zero-pressure relaxation before it is the shared one of the material context.
    """

    name = "eos"
    suite_order = 20

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``eos``: every material has one."""
        return [cls.suite_entry("eos")]

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        volume_range: float = 0.05,
        n_points: int = 9,
        isolated_atom_box_a: float = 20.0,
    ) -> None:
        super().__init__(label, material=material)
        if not 0.0 < volume_range <= 0.3:
            raise InputError(None, "volume_range", "a relative volume half-range in (0, 0.3]", got=volume_range)
        if n_points < 5:
            raise InputError(None, "n_points", "at least 5 points for a 4-parameter fit", got=n_points)
        self.volume_range = volume_range
        self.n_points = n_points
        self.isolated_atom_box_a = isolated_atom_box_a

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        bulk = self.context_for(context).relaxed_bulk(calculator)
        atoms = bulk.cell()
        n_atoms = len(atoms)
        cell0 = atoms.cell.array.copy()
        volume_factors = np.linspace(1.0 - self.volume_range, 1.0 + self.volume_range, self.n_points)
        volumes, energies = [], []
        for factor in volume_factors:
            scaled = atoms.copy()
            scaled.set_cell(cell0 * factor ** (1.0 / 3.0), scale_atoms=True)
            scaled.calc = calculator
            volumes.append(scaled.get_volume())
            energies.append(scaled.get_potential_energy())
        eos = AseEquationOfState(volumes, energies, eos="birchmurnaghan")
        try:
            v0, e0, b0 = eos.fit(warn=False)
        except (RuntimeError, ValueError) as exc:  # scipy curve_fit failure: no minimum in the range
            raise EvaluationError(f"Birch–Murnaghan fit failed: {exc}") from None
        if not (volumes[0] < v0 < volumes[-1]) or not b0 > 0:
            raise EvaluationError(
                f"no energy minimum inside the fitted volume range ({volumes[0]:.2f}–{volumes[-1]:.2f} Å^3): "
                f"V0 = {v0:.3g} Å^3, B = {b0 * EV_PER_A3_TO_GPA:.3g} GPa"
            )
        energy_per_atom_ev = e0 / n_atoms
        symbols = atoms.get_chemical_symbols()
        e_atoms = {s: isolated_atom_energy_ev(calculator, s, self.isolated_atom_box_a) for s in sorted(set(symbols))}
        e_atom_ev = sum(e_atoms[s] for s in symbols) / n_atoms
        volume_relaxed = atoms.get_volume()
        values = {
            "lattice_constant_a": bulk.lattice_constant_a * (v0 / volume_relaxed) ** (1.0 / 3.0),
            "bulk_modulus_gpa": b0 * EV_PER_A3_TO_GPA,
            "cohesive_energy_ev": e_atom_ev - energy_per_atom_ev,
            "energy_per_atom_ev": energy_per_atom_ev,
        }
        units = {"lattice_constant_a": "Å", "bulk_modulus_gpa": "GPa", "cohesive_energy_ev": "eV"}
        units["energy_per_atom_ev"] = "eV"
        details = {
            "volumes_a3_per_atom": [v / n_atoms for v in volumes],
            "energies_ev_per_atom": [e / n_atoms for e in energies],
            "isolated_atom_energy_ev": e_atoms,
            STRUCTURES_KEY: {"relaxed_bulk": structure_record(bulk.atoms, bulk.energy_per_atom_ev * len(bulk.atoms))},
        }
        return self.result(values, units, details=details)
