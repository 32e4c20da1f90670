"""Surface energies of low-index surfaces of any material, unrelaxed and with ions relaxed.

γ = (E_slab − N·E_bulk) / (2A), with E_bulk the energy per atom of the crystal relaxed by the same model (the
shared relaxed bulk) and A the area of one face; the slab is cut from that relaxed crystal (same lattice constant),
so γ does not mix in a lattice-mismatch strain energy. Slabs and terminations: :mod:`mlipscope.materials.surfaces`
(bulk-terminated; compound slabs must be stoichiometric).

The relaxation starts from the ideal positions without random displacements, so surfaces relax within the
symmetry of the bulk-terminated geometry (no reconstruction): these are *unreconstructed* surface energies, as in
the CASTEP Si (100) reference of the GAP-18 testing framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError
from mlipscope.materials.material import Material
from mlipscope.materials.surfaces import check_miller, surface_area_a2, surface_slab
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings
from mlipscope.properties.structures import STRUCTURES_KEY, relax_with, structure_record
from mlipscope.units import EV_PER_A2_TO_J_PER_M2

__all__ = ["SurfaceEnergy", "surface_area_a2", "surface_slab"]


class SurfaceEnergy(Property):
    """Surface energy (J/m²) of one surface of the material, relaxed (ions) and unrelaxed.

    ``miller``: Miller indices of the conventional cell. ``layers``: atomic planes of a diamond-structure slab;
    ``min_thickness_a``: slab thickness (Å) of every other structure. ``vacuum_a``: empty space on each side (Å).
    ``lateral``: repeats of the 1x1 surface cell. ``fmax``/``max_steps``: ion relaxation.
    """

    name = "surface_energy"
    suite_order = 50

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``surface_<hkl>`` per surface of the material."""
        return [cls.suite_entry(f"surface_{''.join(map(str, m))}", miller=m) for m in material.surfaces]

    def __init__(
        self,
        miller: tuple[int, int, int] | list[int] = (1, 0, 0),
        *,
        layers: int = 12,
        min_thickness_a: float = 10.0,
        vacuum_a: float = 8.0,
        lateral: tuple[int, int] | list[int] = (1, 1),
        fmax: float = 2e-3,
        max_steps: int = 500,
        label: str | None = None,
        material=None,
    ) -> None:
        super().__init__(label, material=material)
        self.miller = tuple(int(i) for i in miller)
        check_miller(self.material, self.miller)
        self.layers = int(layers)
        self.min_thickness_a = float(min_thickness_a)
        self.vacuum_a = float(vacuum_a)
        self.lateral = (int(lateral[0]), int(lateral[1]))
        self.fmax = fmax
        self.max_steps = max_steps
        self.relaxation()  # validates the relaxation settings before any calculation

    def relaxation(self) -> RelaxationSettings:
        """The ion relaxation of the slab (fixed cell)."""
        return RelaxationSettings(fmax=self.fmax, max_steps=self.max_steps, optimizer="BFGS")

    def config(self) -> dict[str, Any]:
        return {**super().config(), "miller": list(self.miller), "lateral": list(self.lateral)}

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        bulk = self.context_for(context).relaxed_bulk(calculator)
        a, e_bulk_ev_atom = bulk.lattice_constant_a, bulk.energy_per_atom_ev
        slab = surface_slab(
            self.material,
            self.miller,  # type: ignore[arg-type]
            a,
            layers=self.layers,
            min_thickness_a=self.min_thickness_a,
            vacuum_a=self.vacuum_a,
            lateral=self.lateral,
            lattice=bulk.cell(),
        )
        area = surface_area_a2(slab)
        slab.calc = calculator
        e_unrelaxed = float(slab.get_potential_energy())
        z_extent_before = float(np.ptp(slab.positions[:, 2]))
        relaxation = relax_with(slab, calculator, self.relaxation(), what=f"{self.miller} surface slab")
        z_extent_after = float(np.ptp(slab.positions[:, 2]))
        # a slab that flies apart or collapses "relaxes" to a meaningless energy: refuse it
        if not np.isfinite(relaxation.energy_ev) or abs(z_extent_after - z_extent_before) > 0.25 * z_extent_before:
            raise EvaluationError(
                f"{self.miller} slab thickness changed from {z_extent_before:.2f} to {z_extent_after:.2f} Å "
                "during the relaxation (slab disintegrated)"
            )
        n = len(slab)

        def gamma(energy_ev: float) -> float:
            return (energy_ev - n * e_bulk_ev_atom) / (2.0 * area) * EV_PER_A2_TO_J_PER_M2

        values = {
            "surface_energy_j_m2": gamma(relaxation.energy_ev),
            "surface_energy_unrelaxed_j_m2": gamma(e_unrelaxed),
            "relaxation_energy_j_m2": gamma(relaxation.energy_ev) - gamma(e_unrelaxed),
        }
        units = dict.fromkeys(values, "J/m²")
        details = {
            "lattice_constant_a": a,
            "bulk_energy_ev_atom": e_bulk_ev_atom,
            "n_atoms": n,
            "area_a2": area,
            "slab_energy_unrelaxed_ev": e_unrelaxed,
            "slab_energy_relaxed_ev": relaxation.energy_ev,
            "relaxation_steps": relaxation.n_steps,
            "max_force_ev_a": relaxation.max_force_ev_a,
            STRUCTURES_KEY: {"relaxed_slab": structure_record(slab, relaxation.energy_ev)},
        }
        return self.result(values, units, details=details)
