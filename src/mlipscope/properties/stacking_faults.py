"""Generalized stacking-fault energy (GSFE) curves on the slip systems of the cubic prototypes.

A slab of the model's relaxed crystal, oriented with the slip plane normal along z and periodic in all three
directions, is faulted by tilting its third cell vector by the displacement (one fault per cell, at the periodic
boundary, no free surfaces). At each displacement the atoms relax along z only (ASE ``FixCartesian``), the cell
stays fixed, and γ(u) = (E(u) - E(0)) / A. The slip systems of each prototype (the path: the displacement from 0
to its end) are material-layer data, :data:`mlipscope.materials.prototypes.SLIP_SYSTEMS`. A path that is a full
lattice vector gives the unstable stacking-fault energy (``<system>_usf_j_m2``, the maximum); a Shockley partial
also ends at the intrinsic stacking fault (``isf_j_m2``). Each material's reference file names the source of its
values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.prototypes import SLIP_SYSTEMS
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import RelaxationSettings
from mlipscope.properties.structures import OPTIMIZERS
from mlipscope.units import EV_PER_A2_TO_J_PER_M2


def oriented_slab(builder: Any, directions: tuple, symbol: str, a: float, repeats_z: int, gap: str) -> Atoms:
    """The oriented periodic cell, its atoms shifted along z so that the periodic boundary lies in the middle of a
    gap between atomic layers of the requested kind (the widest or the narrowest; any for one spacing)."""
    if isinstance(builder, str):
        import ase.lattice.cubic

        builder = getattr(ase.lattice.cubic, builder)
    atoms = builder(directions=[list(d) for d in directions], size=(1, 1, repeats_z), symbol=symbol,
                    latticeconstant=a, pbc=True)  # fmt: skip
    height = atoms.cell[2, 2]
    z = atoms.positions[:, 2] % height
    z[z > height - 1e-3] -= height  # a layer at the top is the bottom one: no spurious zero-width gap
    layers = np.unique(np.round(z, 3))
    gaps = np.diff(np.append(layers, layers[0] + height))
    pick = int(np.argmin(gaps)) if gap == "narrow" else int(np.argmax(gaps))
    middle = layers[pick] + gaps[pick] / 2.0
    atoms.positions[:, 2] = (atoms.positions[:, 2] - middle) % height
    return atoms


#: default relaxation of :func:`gsfe_curve`
Z_RELAXATION = RelaxationSettings(fmax=0.01, max_steps=200, optimizer="FIRE")


def gsfe_curve(
    calculator: Calculator,
    slab: Atoms,
    path: np.ndarray,
    *,
    relaxation: RelaxationSettings = Z_RELAXATION,
) -> np.ndarray:
    """γ (eV/Å²) at each displacement vector of ``path`` (n x 3), atoms relaxed along z only (fixed cell; a run
    that has not converged within ``max_steps`` is accepted while its largest force is below 10 ``fmax``)."""
    from ase.constraints import FixCartesian  # here: ase.constraints loads scipy (see SLIP_SYSTEMS)

    fmax, max_steps = relaxation.fmax, relaxation.max_steps
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    energies = []
    for displacement in path:
        atoms = slab.copy()
        cell = atoms.cell.array.copy()
        cell[2] = cell[2] + displacement
        atoms.set_cell(cell, scale_atoms=False)
        atoms.set_constraint(FixCartesian(range(len(atoms)), mask=(True, True, False)))
        atoms.calc = calculator
        optimizer = OPTIMIZERS[relaxation.optimizer](atoms, logfile=None)
        if not optimizer.run(fmax=fmax, steps=max_steps) and np.abs(atoms.get_forces()).max() > 10 * fmax:
            raise EvaluationError(f"stacking fault: relaxation along z did not converge in {max_steps} steps")
        energies.append(float(atoms.get_potential_energy()))
    gamma = (np.array(energies) - energies[0]) / area
    if not np.isfinite(gamma).all():
        raise EvaluationError("stacking fault: non-finite energy")
    return gamma


class StackingFaults(Property):
    """GSFE curves of the material's prototype (see the module docstring): ``n_points`` displacements along each
    path, a cell of ``repeats_z`` periods along the fault normal, z relaxation to ``fmax`` (eV/Å)."""

    name = "stacking_faults"
    suite_order = 210

    @classmethod
    def suite_entries(cls, material) -> list[SuiteEntry]:
        """``stacking_faults`` for a one-element material of a prototype with slip systems here."""
        ok = material.structure.prototype in SLIP_SYSTEMS and len(material.species) == 1
        return [cls.suite_entry("stacking_faults")] if ok else []

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        n_points: int = 7,
        repeats_z: int = 2,
        fmax: float = 0.01,
        max_steps: int = 200,
    ) -> None:
        super().__init__(label, material=material)
        prototype = self.material.structure.prototype
        if prototype not in SLIP_SYSTEMS or len(self.material.species) != 1:
            raise InputError(
                self.material.source or None,
                "structure.prototype",
                f"a one-element material of a prototype with slip systems {sorted(SLIP_SYSTEMS)}",
                got=prototype,
            )
        if n_points < 3 or repeats_z < 1:
            raise InputError(None, "n_points/repeats_z", "n_points >= 3 and repeats_z >= 1", got=(n_points, repeats_z))
        self.n_points, self.repeats_z, self.fmax, self.max_steps = n_points, repeats_z, fmax, max_steps
        self.relaxation()  # validates the relaxation settings before any calculation

    def relaxation(self) -> RelaxationSettings:
        """The z-only relaxation of each sheared cell (FIRE)."""
        return RelaxationSettings(fmax=self.fmax, max_steps=self.max_steps, optimizer="FIRE")

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        a = self.context_for(context).relaxed_bulk(calculator).lattice_constant_a
        symbol = self.material.species[0]
        values: dict[str, float] = {}
        curves: dict[str, Any] = {}
        systems = SLIP_SYSTEMS[self.material.structure.prototype]
        for system, (builder, directions, gap, (axis, length)) in systems.items():
            slab = oriented_slab(builder, directions, symbol, a, self.repeats_z, gap)
            unit = slab.cell[axis] / np.linalg.norm(slab.cell[axis])
            fractions = np.linspace(0.0, 1.0, self.n_points)
            path = np.outer(fractions * length * a, unit)
            gamma = gsfe_curve(calculator, slab, path, relaxation=self.relaxation()) * EV_PER_A2_TO_J_PER_M2
            prefix = f"{system}_" if system else ""
            values[f"{prefix}usf_j_m2"] = float(gamma.max())
            if system in ("glide", "") and self.material.structure.prototype != "bcc":
                values["isf_j_m2"] = float(gamma[-1])
            curves[system or "slip"] = {"fraction": fractions.tolist(), "gamma_j_m2": gamma.tolist(),
                                        "n_atoms": len(slab)}  # fmt: skip
        return self.result(values, dict.fromkeys(values, "J/m²"), details={"curves": curves, "lattice_constant_a": a})
