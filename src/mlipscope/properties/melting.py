"""Melting point by the solid–liquid interface method (LAMMPS MD).

A supercell of the model's relaxed crystal, elongated along z, is half melted: the upper half is held at
``melt_temperature_k`` (NVT) while the lower half is frozen, giving a crystal with two solid–liquid interfaces. From
that state, at each temperature of ``temperatures_k`` an NPT run (anisotropic barostat at zero pressure) lets the
interfaces move: below the melting point the crystal grows and the potential energy falls, above it the liquid
grows and the energy rises. The melting point is where the rate of change of the potential energy per atom crosses
zero (a straight-line fit of the rates against temperature; its statistical error follows from the fit's
covariance by the delta method). This is the interface-velocity variant of the coexistence method (e.g. Morris &
Song, J. Chem. Phys. 116, 9352, 2002): cheaper than a long coexistence run, and bracketed by the temperatures.

Values: ``melting_point_k`` and ``melting_point_error_k`` (1σ). The rates per temperature are in the details.
The run needs LAMMPS pair commands (a LAMMPS family or a LAMMPS calculator): thousands of atom-picoseconds through
ASE MD would take hours per model. Reference for Si (PW91): 1492 K, Alfè & Gillan, PRB 68, 205212 (2003);
Stillinger–Weber Si melts at about 1690 K (Broughton & Li, PRB 35, 9120, 1987).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope._lammps import new_lammps
from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.elements import experimental_melting_point_k
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.md import lammps_setup
from mlipscope.properties.registry import SuiteEntry

_SETUP = ["units metal", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p"]


def _lammps_from(data: Path, commands: list[str]):
    lmp = new_lammps()
    for command in [*_SETUP, f"read_data {data}", *commands]:
        lmp.command(command)
    return lmp


def two_phase_cell(
    atoms: Atoms, commands: list[str], elements: list[str], *, melt_k: float, melt_ps: float, timestep_fs: float,
    seed: int, workdir: Path,
) -> Path:  # fmt: skip
    """Melt the upper half of ``atoms`` (lower half frozen) and write the two-phase cell; returns its data file."""
    import ase.io  # here, not at the top: listing a suite imports this module, and ase.io loads scipy

    start, two_phase = workdir / "crystal.data", workdir / "two_phase.data"
    ase.io.write(start, atoms, format="lammps-data", specorder=elements, masses=True)
    lmp = _lammps_from(start, commands)
    try:
        z_mid = 0.5 * atoms.cell[2, 2]
        for command in (
            f"region upper block INF INF INF INF {z_mid} INF units box",
            "group upper region upper",
            "group lower subtract all upper",
            f"timestep {timestep_fs / 1000.0}",
            f"velocity upper create {melt_k} {seed + 1} mom yes rot no dist gaussian",
            "velocity lower set 0.0 0.0 0.0",
            "fix freeze lower setforce 0.0 0.0 0.0",
            f"fix hot upper nvt temp {melt_k} {melt_k} {100 * timestep_fs / 1000.0}",
            f"run {int(round(melt_ps * 1000.0 / timestep_fs))}",
            f"write_data {two_phase}",
        ):
            lmp.command(command)
    finally:
        lmp.close()
    return two_phase


def energy_rate(
    two_phase: Path, commands: list[str], n_atoms: int, *, temperature_k: float, run_ps: float, timestep_fs: float,
    seed: int,
) -> tuple[float, list[float]]:  # fmt: skip
    """The rate of change (eV/atom/ps) of the potential energy per atom over the last two thirds of an NPT run at
    ``temperature_k`` from the two-phase cell, and the sampled energies."""
    lmp = _lammps_from(two_phase, commands)
    n_samples = 30
    every = max(int(round(run_ps * 1000.0 / timestep_fs / n_samples)), 1)
    try:
        for command in (
            f"timestep {timestep_fs / 1000.0}",
            f"velocity all create {temperature_k} {seed + 7} mom yes rot no dist gaussian",
            f"fix npt all npt temp {temperature_k} {temperature_k} {100 * timestep_fs / 1000.0} "
            f"aniso 0.0 0.0 {1000 * timestep_fs / 1000.0}",
            "thermo_style custom step temp pe",
            "run 0",
        ):
            lmp.command(command)
        energies = [float(lmp.get_thermo("pe")) / n_atoms]
        for k in range(n_samples):
            try:
                lmp.command(f"run {every} pre no post no")
            except Exception as exc:  # noqa: BLE001 - LAMMPS reports lost atoms as a plain exception
                raise EvaluationError(f"melting point: the MD at {temperature_k:g} K stopped: {exc}") from None
            energies.append(float(lmp.get_thermo("pe")) / n_atoms)
            if not math.isfinite(energies[-1]):
                raise EvaluationError(f"melting point: non-finite energy at {temperature_k:g} K, sample {k}")
    finally:
        lmp.close()
    times_ps = np.arange(n_samples + 1) * every * timestep_fs / 1000.0
    tail = slice(n_samples // 3, None)  # the first third: the interfaces and the box settle
    return float(np.polyfit(times_ps[tail], np.asarray(energies)[tail], 1)[0]), energies


def zero_crossing(temperatures_k: np.ndarray, rates: np.ndarray) -> tuple[float, float]:
    """Where the straight-line fit of rate vs temperature is zero, and its 1σ error (delta method)."""
    (slope, intercept), cov = np.polyfit(temperatures_k, rates, 1, cov=True)
    if slope <= 0:
        raise EvaluationError("melting point: the energy rate does not rise with temperature (no interface motion)")
    t_m = -intercept / slope
    gradient = np.array([intercept / slope**2, -1.0 / slope])  # d t_m / d(slope, intercept)
    return float(t_m), float(np.sqrt(gradient @ cov @ gradient))


class MeltingPoint(Property):
    """Melting point by the interface method (see the module docstring). ``repeats``: conventional cells along
    x, y, z (z is the long axis with the two interfaces)."""

    name = "melting_point"
    suite_order = 240

    @classmethod
    def suite_entries(cls, material) -> list[SuiteEntry]:
        """``melting_point`` for a one-element crystal whose experimental melting point is known here: the bracket
        is 0.75-1.2 times it (wide enough for a DFT-like model: PW91 Si melts 12 % below experiment)."""
        t_exp = experimental_melting_point_k(material)
        if t_exp is None or material.structure.prototype is None:
            return []
        return [cls.suite_entry("melting_point", temperatures_k=[round(t_exp * f) for f in (0.75, 0.9, 1.05, 1.2)],
                                melt_temperature_k=round(2.0 * t_exp))]  # fmt: skip

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        temperatures_k: tuple[float, ...] | list[float] = (1300.0, 1500.0, 1700.0, 1900.0),
        repeats: tuple[int, int, int] | list[int] = (2, 2, 6),
        melt_temperature_k: float = 3500.0,
        melt_ps: float = 4.0,
        run_ps: float = 8.0,
        timestep_fs: float = 2.0,
        seed: int = 0,
        lammps_commands: list[str] | None = None,
        elements: list[str] | None = None,
    ) -> None:
        super().__init__(label, material=material)
        temps = sorted(float(t) for t in temperatures_k)
        if len(temps) < 3:
            raise InputError(None, "temperatures_k", "at least three temperatures bracketing the melting point",
                             got=temperatures_k)  # fmt: skip
        if melt_temperature_k <= temps[-1]:
            raise InputError(None, "melt_temperature_k", "above every temperature of temperatures_k",
                             got=melt_temperature_k)  # fmt: skip
        self.temperatures_k, self.repeats = tuple(temps), tuple(int(n) for n in repeats)
        self.melt_temperature_k, self.melt_ps, self.run_ps = float(melt_temperature_k), float(melt_ps), float(run_ps)
        self.timestep_fs, self.seed = float(timestep_fs), int(seed)
        self.lammps_commands = list(lammps_commands) if lammps_commands else None
        self.elements = list(elements) if elements else None

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        setup = lammps_setup(calculator, self.lammps_commands, self.elements)
        if setup is None:
            raise InputError(None, "calculator", "a LAMMPS potential (pair commands) for the melting point MD")
        commands, elements = setup
        elements = elements or sorted(self.material.species)
        atoms = self.context_for(context).relaxed_bulk(calculator).cell().repeat(self.repeats)
        common: dict[str, Any] = {"timestep_fs": self.timestep_fs, "seed": self.seed}
        with tempfile.TemporaryDirectory() as tmp:
            two_phase = two_phase_cell(atoms, commands, elements, melt_k=self.melt_temperature_k,
                                       melt_ps=self.melt_ps, workdir=Path(tmp), **common)  # fmt: skip
            runs = [energy_rate(two_phase, commands, len(atoms), temperature_k=t, run_ps=self.run_ps, **common)
                    for t in self.temperatures_k]  # fmt: skip
        rates = np.array([rate for rate, _ in runs])
        if np.all(rates < 0) or np.all(rates > 0):
            side = "crystallised" if rates[-1] < 0 else "melted"
            raise EvaluationError(
                f"melting point outside {self.temperatures_k[0]:g}-{self.temperatures_k[-1]:g} K: the interface "
                f"{side} at every temperature (set temperatures_k)"
            )
        t_m, error = zero_crossing(np.array(self.temperatures_k), rates)
        details = {"temperature_k": list(self.temperatures_k), "energy_rate_mev_atom_ps": (rates * 1e3).tolist(),
                   "energies_ev_atom": [e for _, e in runs], "n_atoms": len(atoms)}  # fmt: skip
        return self.result(
            {"melting_point_k": t_m, "melting_point_error_k": error},
            {"melting_point_k": "K", "melting_point_error_k": "K"},
            details=details,
        )
