"""Thermal expansion in the quasi-harmonic approximation (phonopy's ``PhonopyQHA``).

The model's relaxed conventional cell is scaled to ``n_volumes`` volumes around its minimum; at each, the static
energy and the harmonic phonons (phonopy finite displacements in a ``supercell``, mesh sampling) give the
Helmholtz free energy F(V, T); minimising F + PV at P = 0 (a Vinet fit per temperature) gives V(T), the volumetric
expansion coefficient β(T) = (1/V) dV/dT and, for a cubic crystal, the linear one α = β / 3. Values:

- ``alpha_300k_ppm_k``: α at 300 K (10⁻⁶/K);
- ``alpha_min_ppm_k`` and ``t_alpha_min_k``: the lowest α below 300 K and where it is (Si's expansion is negative
  around 100 K, a known feature of its transverse acoustic modes that a good model reproduces);
- ``lattice_constant_300k_a``: a at 300 K (Å; the relaxed a scaled by (V(300 K) / V_relaxed)^(1/3)).

The Si DFT reference is the libAtoms silicon testing framework's QHA test (PW91; Bartók et al., PRX 8, 041048,
2018), the same approximation.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.phonons import phonopy_with_forces
from mlipscope.properties.registry import SuiteEntry

#: eV per kJ/mol (phonopy's free energies are in kJ/mol of its primitive cells)
EV_PER_KJ_MOL = 1.0 / 96.48533212


def free_energies(
    calculator: Calculator, unit_cells: list, supercell: tuple[int, int, int], mesh: tuple[int, int, int],
    temperatures_k: np.ndarray, displacement_a: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per primitive cell, at each unit cell: volume (Å³), static energy (eV), and over ``temperatures_k`` the
    phonon free energy (kJ/mol), heat capacity and entropy (J/K/mol), as PhonopyQHA takes them."""
    volumes, energies, free, cv, entropy = [], [], [], [], []
    for cell in unit_cells:
        phonon = phonopy_with_forces(cell, calculator, supercell, "auto", displacement_a, 1e-4)
        share = len(phonon.primitive) / len(cell)  # the unit cell's values per primitive cell
        static = cell.copy()
        static.calc = calculator
        volumes.append(static.get_volume() * share)
        energies.append(float(static.get_potential_energy()) * share)
        phonon.run_mesh(mesh, is_gamma_center=True)
        phonon.run_thermal_properties(temperatures=temperatures_k, exclude_gamma_acoustic=True)
        thermal = phonon.get_thermal_properties_dict()
        free.append(thermal["free_energy"])
        cv.append(thermal["heat_capacity"])
        entropy.append(thermal["entropy"])
    # PhonopyQHA takes (temperatures x volumes)
    return np.array(volumes), np.array(energies), np.array(free).T, np.array(cv).T, np.array(entropy).T


class ThermalExpansion(Property):
    """Quasi-harmonic thermal expansion of a cubic crystal (see the module docstring). ``volume_range``: relative
    half-width of the sampled volumes; temperatures up to ``t_max_k`` in steps of ``t_step_k``."""

    name = "thermal_expansion"
    suite_order = 230

    @classmethod
    def suite_entries(cls, material) -> list[SuiteEntry]:
        """``thermal_expansion`` for a cubic prototype (the linear coefficient is β/3 there)."""
        proto = material.structure.proto()
        return [cls.suite_entry("thermal_expansion")] if proto is not None and proto.cubic else []

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        n_volumes: int = 7,
        volume_range: float = 0.03,
        supercell: tuple[int, int, int] | list[int] = (2, 2, 2),
        mesh: tuple[int, int, int] | list[int] = (16, 16, 16),
        t_max_k: float = 800.0,
        t_step_k: float = 10.0,
    ) -> None:
        super().__init__(label, material=material)
        if n_volumes < 5 or not 0.005 <= volume_range <= 0.1:
            raise InputError(None, "n_volumes/volume_range", "n_volumes >= 5, volume_range in [0.005, 0.1]",
                             got=(n_volumes, volume_range))  # fmt: skip
        if t_max_k < 350.0:
            raise InputError(None, "t_max_k", "at least 350 K (300 K values need points above)", got=t_max_k)
        self.n_volumes, self.volume_range = n_volumes, volume_range
        self.supercell = tuple(int(n) for n in supercell)
        self.mesh = tuple(int(n) for n in mesh)
        self.t_max_k, self.t_step_k = float(t_max_k), float(t_step_k)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "supercell": list(self.supercell), "mesh": list(self.mesh)}

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        bulk = self.context_for(context).relaxed_bulk(calculator)
        unit = bulk.cell()
        if not np.allclose(unit.cell.lengths(), unit.cell.lengths()[0]) or not np.allclose(unit.cell.angles(), 90):
            raise EvaluationError("thermal expansion: the linear coefficient is defined here for cubic cells only")
        factors = np.linspace(1 - self.volume_range, 1 + self.volume_range, self.n_volumes) ** (1.0 / 3.0)
        cells = []
        for f in factors:
            cell = unit.copy()
            cell.set_cell(unit.cell.array * f, scale_atoms=True)
            cells.append(cell)
        # temperatures past t_max_k: PhonopyQHA drops its last points (numerical derivatives need neighbours)
        temperatures = np.arange(0.0, self.t_max_k + 3 * self.t_step_k, self.t_step_k)
        volumes, energies, free, cv, entropy = free_energies(calculator, cells, self.supercell, self.mesh,
                                                             temperatures)  # fmt: skip
        from phonopy import PhonopyQHA  # imported when computed, not when a suite is listed

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's fit warnings: a failed fit shows as NaN below
            qha = PhonopyQHA(volumes=volumes, electronic_energies=energies, temperatures=temperatures,
                             free_energy=free, cv=cv, entropy=entropy, eos="vinet", t_max=self.t_max_k)  # fmt: skip
        t = temperatures[: len(qha.thermal_expansion)]
        alpha_ppm = np.asarray(qha.thermal_expansion, dtype=float) / 3.0 * 1e6
        v_t = np.asarray(qha.volume_temperature, dtype=float)[: t.size]
        if not (np.isfinite(alpha_ppm).all() and np.isfinite(v_t).all()) or t.size < 2 or t[-1] < 300.0:
            raise EvaluationError("thermal expansion: the quasi-harmonic free-energy fits failed")
        v_relaxed = unit.get_volume() * volumes[0] / cells[0].get_volume()
        below = (t > 0.0) & (t <= 300.0)
        i_min = int(np.argmin(np.where(below, alpha_ppm, np.inf)))
        values = {
            "alpha_300k_ppm_k": float(np.interp(300.0, t, alpha_ppm)),
            "alpha_min_ppm_k": float(alpha_ppm[i_min]),
            "t_alpha_min_k": float(t[i_min]),
            "lattice_constant_300k_a": float(
                bulk.lattice_constant_a * (np.interp(300.0, t, v_t) / v_relaxed) ** (1 / 3)
            ),
        }
        units = {"alpha_300k_ppm_k": "10⁻⁶/K", "alpha_min_ppm_k": "10⁻⁶/K", "t_alpha_min_k": "K",
                 "lattice_constant_300k_a": "Å"}  # fmt: skip
        details = {"temperature_k": t.tolist(), "alpha_ppm_k": alpha_ppm.tolist(), "volume_a3": v_t.tolist()}
        return self.result(values, units, details=details)
