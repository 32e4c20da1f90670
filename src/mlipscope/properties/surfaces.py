"""Surface energies of diamond-structure low-index surfaces, unrelaxed and with ions relaxed.

γ = (E_slab − N·E_bulk) / (2A), with E_bulk the energy per atom of the crystal relaxed by the same model and A the
area of one face; the slab is cut from that relaxed crystal (same lattice constant), so γ does not mix in a
lattice-mismatch strain energy. Terminations are the bulk-terminated 1x1 ones:

- (100): ASE's ``diamond100``, two dangling bonds per surface atom;
- (111): cut between the widely spaced planes (the "shuffle" position), one dangling bond per surface atom (ASE's
  ``diamond111`` ends on the narrow-gap "glide" planes with three dangling bonds; its outermost planes are dropped);
- (110): :func:`ase.build.surface` of the conventional cell, one dangling bond per surface atom.

The relaxation starts from the ideal positions without random displacements, so surfaces relax within the
symmetry of the bulk-terminated geometry (no dimer reconstruction): these are *unreconstructed* surface energies,
as in the CASTEP (100) reference of the GAP-18 testing framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.build import diamond100, diamond111, surface
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.structures import conventional_cell, relax, relaxed_bulk
from mlipscope.units import EV_PER_A2_TO_J_PER_M2

MILLER_INDICES = ((1, 0, 0), (1, 1, 0), (1, 1, 1))


def surface_slab(
    miller: tuple[int, int, int],
    a: float,
    layers: int = 12,
    vacuum_a: float = 8.0,
    lateral: tuple[int, int] = (1, 1),
    element: str = "Si",
) -> Atoms:
    """Bulk-terminated diamond slab with ``layers`` atomic planes, surface normal along z, ``vacuum_a`` Å of empty
    space on each side (see the module docstring for the terminations)."""
    miller = tuple(int(i) for i in miller)  # type: ignore[assignment]
    if miller not in MILLER_INDICES:
        raise InputError(None, "miller", f"one of {list(MILLER_INDICES)}", got=miller)
    if layers < 4 or (miller != (1, 0, 0) and layers % 2):
        raise InputError(None, "layers", "at least 4 atomic planes (an even number for (110) and (111))", got=layers)
    nx, ny = lateral
    if miller == (1, 0, 0):
        slab = diamond100(element, size=(nx, ny, layers), a=a, vacuum=vacuum_a, orthogonal=True)
    elif miller == (1, 1, 1):
        slab = diamond111(element, size=(nx, ny, layers + 2), a=a, vacuum=vacuum_a)
        z = slab.positions[:, 2]
        del slab[[i for i in range(len(slab)) if np.isclose(z[i], z.min()) or np.isclose(z[i], z.max())]]
    else:
        # each period of the conventional (110) cut holds two atomic planes
        slab = surface(conventional_cell(element, "diamond", a), (1, 1, 0), layers // 2, vacuum=vacuum_a)
        slab = slab.repeat((nx, ny, 1))
    slab.center(vacuum=vacuum_a, axis=2)
    slab.pbc = True  # periodic along z too (vacuum separates the images): every calculator handles that
    return slab


def surface_area_a2(slab: Atoms) -> float:
    """Area of one face of the slab (Å²): |a1 × a2| of the in-plane cell vectors."""
    return float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))


class SurfaceEnergy(Property):
    """Surface energy (J/m²) of a diamond-structure surface, relaxed (ions) and unrelaxed.

    ``miller``: (1,0,0), (1,1,0) or (1,1,1). ``layers``: atomic planes in the slab. ``vacuum_a``: empty space on
    each side (Å). ``lateral``: repeats of the 1x1 surface cell. ``fmax``/``max_steps``: ion relaxation.
    """

    name = "surface_energy"

    def __init__(
        self,
        miller: tuple[int, int, int] | list[int] = (1, 0, 0),
        *,
        layers: int = 12,
        vacuum_a: float = 8.0,
        lateral: tuple[int, int] | list[int] = (1, 1),
        element: str = "Si",
        fmax: float = 2e-3,
        max_steps: int = 500,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        self.miller = tuple(int(i) for i in miller)
        if self.miller not in MILLER_INDICES:
            raise InputError(None, "miller", f"one of {list(MILLER_INDICES)}", got=miller)
        self.layers = int(layers)
        self.vacuum_a = float(vacuum_a)
        self.lateral = (int(lateral[0]), int(lateral[1]))
        self.element = element
        self.fmax = fmax
        self.max_steps = max_steps

    def config(self) -> dict[str, Any]:
        return {**super().config(), "miller": list(self.miller), "lateral": list(self.lateral)}

    def compute(self, calculator: Calculator) -> PropertyResult:
        bulk_cell, a = relaxed_bulk(calculator, self.element, "diamond")
        e_bulk_ev_atom = bulk_cell.get_potential_energy() / len(bulk_cell)
        slab = surface_slab(self.miller, a, self.layers, self.vacuum_a, self.lateral, self.element)
        area = surface_area_a2(slab)
        slab.calc = calculator
        e_unrelaxed = float(slab.get_potential_energy())
        z_extent_before = float(np.ptp(slab.positions[:, 2]))
        relaxation = relax(
            slab, calculator, fmax=self.fmax, max_steps=self.max_steps, what=f"{self.miller} surface slab"
        )
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
        }
        return self.result(values, units, details=details)
