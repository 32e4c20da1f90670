"""Lattice thermal conductivity κ(T) from three-phonon scattering, with phono3py.

Second- and third-order force constants from the model's forces on phono3py's displaced supercells (finite
displacements of ``displacement_a`` in a ``supercell`` of the relaxed conventional cell; symmetry-reduced: 111
supercells of 64 atoms for diamond), then the linearized phonon Boltzmann equation on a ``mesh`` of q-points in
the relaxation-time approximation (RTA; ``lbte=True`` solves it fully, costlier). Isotope and boundary scattering
are left out: κ is the intrinsic three-phonon value of an isotopically pure crystal. Values:

- ``kappa_300k_w_mk``: the mean of the diagonal of κ at 300 K (W/(m·K)); cubic crystals are isotropic;
- ``kappa_ratio_600k_300k``: κ(600 K) / κ(300 K), about 0.5 where three-phonon scattering dominates (κ ∝ 1/T).

The curve κ(T) at ``temperatures_k`` is in the details. Settings (defaults: 2x2x2 conventional cells, 11³ mesh)
are a compromise for ensembles: the 11³ mesh is within about 10 % of the 15³ value for Si.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.phonons import to_ase_atoms, to_phonopy_atoms
from mlipscope.properties.registry import SuiteEntry


def _forces(calculator: Calculator, supercells: list) -> np.ndarray:
    sets = []
    for cell in supercells:
        atoms = to_ase_atoms(cell)
        atoms.calc = calculator
        forces = np.asarray(atoms.get_forces(), dtype=float)
        if not np.isfinite(forces).all():
            raise EvaluationError("thermal conductivity: non-finite forces on a displaced supercell")
        sets.append(forces - forces.mean(axis=0))  # drift would break the acoustic sum rule
    return np.array(sets)


def lattice_conductivity(
    calculator: Calculator,
    unit_cell: Any,
    *,
    supercell: tuple[int, int, int],
    mesh: tuple[int, int, int],
    temperatures_k: list[float],
    displacement_a: float = 0.03,
    lbte: bool = False,
) -> np.ndarray:
    """κ tensors (temperatures x 6, Voigt order xx yy zz yz xz xy; W/(m·K)) of ``unit_cell`` (ASE atoms)."""
    from phono3py import Phono3py  # C extensions: imported when κ is computed, not when a suite is listed

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "primitive_matrix defaulted")
        ph3 = Phono3py(
            to_phonopy_atoms(unit_cell), supercell_matrix=np.diag(supercell), primitive_matrix="auto", log_level=0
        )
    ph3.generate_displacements(distance=displacement_a)
    ph3.forces = _forces(calculator, ph3.supercells_with_displacements)
    ph3.produce_fc3()
    ph3.produce_fc2()
    ph3.mesh_numbers = list(mesh)
    ph3.init_phph_interaction()
    ph3.run_thermal_conductivity(temperatures=temperatures_k, is_LBTE=lbte)
    kappa = np.asarray(ph3.thermal_conductivity.kappa, dtype=float)[0]  # the first (only) smearing setting
    if not np.isfinite(kappa).all():
        raise EvaluationError("thermal conductivity: phono3py gave non-finite κ (imaginary modes?)")
    return kappa


class ThermalConductivity(Property):
    """Intrinsic lattice thermal conductivity (see the module docstring)."""

    name = "thermal_conductivity"
    suite_order = 220

    @classmethod
    def suite_entries(cls, material) -> list[SuiteEntry]:
        """``thermal_conductivity`` for a cubic prototype (its 2x2x2 conventional supercell stays affordable)."""
        proto = material.structure.proto()
        return [cls.suite_entry("thermal_conductivity")] if proto is not None and proto.cubic else []

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        supercell: tuple[int, int, int] | list[int] = (2, 2, 2),
        mesh: tuple[int, int, int] | list[int] = (11, 11, 11),
        temperatures_k: tuple[float, ...] | list[float] = (200.0, 300.0, 400.0, 600.0, 800.0),
        displacement_a: float = 0.03,
        lbte: bool = False,
    ) -> None:
        super().__init__(label, material=material)
        temps = sorted(float(t) for t in temperatures_k)
        if 300.0 not in temps or 600.0 not in temps:
            raise InputError(None, "temperatures_k", "temperatures including 300 and 600 K", got=temperatures_k)
        if len(tuple(supercell)) != 3 or len(tuple(mesh)) != 3:
            raise InputError(None, "supercell/mesh", "three integers each", got=(supercell, mesh))
        self.supercell = tuple(int(n) for n in supercell)
        self.mesh = tuple(int(n) for n in mesh)
        self.temperatures_k = tuple(temps)
        self.displacement_a = float(displacement_a)
        self.lbte = bool(lbte)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "supercell": list(self.supercell), "mesh": list(self.mesh),
                "temperatures_k": list(self.temperatures_k)}  # fmt: skip

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        unit = self.context_for(context).relaxed_bulk(calculator).cell()
        kappa = lattice_conductivity(
            calculator, unit, supercell=self.supercell, mesh=self.mesh,
            temperatures_k=list(self.temperatures_k), displacement_a=self.displacement_a, lbte=self.lbte,
        )  # fmt: skip
        diagonal = kappa[:, :3].mean(axis=1)
        at = dict(zip(self.temperatures_k, diagonal, strict=True))
        values = {"kappa_300k_w_mk": float(at[300.0]), "kappa_ratio_600k_300k": float(at[600.0] / at[300.0])}
        units = {"kappa_300k_w_mk": "W/(m·K)", "kappa_ratio_600k_300k": "1"}
        details = {"temperature_k": list(self.temperatures_k), "kappa_w_mk": kappa.tolist(),
                   "method": "LBTE" if self.lbte else "RTA"}  # fmt: skip
        return self.result(values, units, details=details)
