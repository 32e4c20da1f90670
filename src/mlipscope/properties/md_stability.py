"""MD stability protocols: does the model survive the molecular dynamics people will run with it?

Three short runs on a supercell of the model's relaxed crystal (ASE MD, so any calculator works):

- **NVE energy drift**: velocity Verlet at ``nve_temperature_k`` for ``nve_ps``; the drift is the slope of the total
  energy per atom (linear fit, meV/atom/ps). Energy is conserved by an exact integrator of a smooth potential: the
  drift measures non-smooth or non-conservative forces (``nve_drift_mev_atom_ps``, an error with reference 0);
- **heating ramp**: Langevin NVT with the target temperature raised linearly from ``ramp_start_k`` to
  ``ramp_end_k`` over ``ramp_ps``; melting is expected on the way, exploding is the failure
  (``heating_survival_k``: the temperature reached when it exploded, or the end of the ramp);
- **compression ramp**: the cell shrunk isotropically in steps of ``compression_step`` of the volume down to
  ``compression_end``, with ``compression_segment_ps`` of NVT at ``nve_temperature_k`` at each step
  (``compression_survival_volume_fraction``: the smallest V/V0 survived).

Failure checks are those of every MD property (:func:`mlipscope.properties.md.check_sample`: non-finite values,
energy jumps, atoms closer than 1.2 Å). The runs are stored as ``details["md_runs"]``
(:class:`~mlipscope.properties.md.MDRun`, a ramp binned at its end temperature), which the survival analysis
reads beside the diffusion runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.md import MDFailure, MDRun, check_sample
from mlipscope.properties.registry import SuiteEntry


def _supercell(unit: Atoms, min_atoms: int) -> Atoms:
    repeat = 1
    while len(unit) * repeat**3 < min_atoms:
        repeat += 1
    return unit.repeat(repeat)


def _langevin(*args: Any, **kwargs: Any) -> Any:
    from ase.md.langevin import Langevin  # ASE's MD loads scipy: imported where it runs, not when a suite is listed

    return Langevin(*args, **kwargs)


def _thermalised(atoms: Atoms, calculator: Calculator, temperature_k: float, seed: int) -> Atoms:
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    work = atoms.copy()
    work.calc = calculator
    # twice the target: half the kinetic energy goes into potential energy as the crystal equilibrates
    MaxwellBoltzmannDistribution(work, temperature_K=2.0 * temperature_k, rng=np.random.default_rng(seed))
    Stationary(work)
    return work


def nve_drift(
    atoms: Atoms, calculator: Calculator, *, temperature_k: float, duration_ps: float, timestep_fs: float, seed: int
) -> tuple[float, MDRun, dict[str, list[float]]]:
    """Slope of the total energy per atom (meV/atom/ps) over an NVE run, its MDRun and the sampled curve."""
    from ase.md.verlet import VelocityVerlet

    work = _thermalised(atoms, calculator, temperature_k, seed)
    dyn = VelocityVerlet(work, timestep=timestep_fs * units.fs)
    n_samples, steps = 50, max(int(round(duration_ps * 1000.0 / timestep_fs / 50)), 1)
    times, totals = [], []
    first = work.get_potential_energy() / len(work)
    try:
        for i in range(n_samples + 1):
            if i:
                dyn.run(steps)
            t_ps = i * steps * timestep_fs / 1000.0
            epot = work.get_potential_energy() / len(work)
            check_sample(epot, first, work, t_ps)
            times.append(t_ps)
            totals.append(epot + work.get_kinetic_energy() / len(work))
    except MDFailure as failure:
        run = MDRun(temperature_k, len(work), duration_ps, failure.kind, failure.time_ps)
        return math.nan, run, {"time_ps": times, "total_energy_ev_atom": totals}
    slope_mev = float(np.polyfit(times, totals, 1)[0]) * 1000.0
    return slope_mev, MDRun(temperature_k, len(work), duration_ps), {"time_ps": times, "total_energy_ev_atom": totals}


def heating_ramp(
    atoms: Atoms, calculator: Calculator, *, start_k: float, end_k: float, duration_ps: float, timestep_fs: float,
    seed: int,
) -> tuple[float, MDRun]:  # fmt: skip
    """The temperature at which a linear Langevin heating ramp exploded (``end_k`` if it did not) and its run."""
    work = _thermalised(atoms, calculator, start_k, seed)
    dyn = _langevin(work, timestep_fs * units.fs, temperature_K=start_k, friction=0.02, fixcm=False,
                    rng=np.random.default_rng(seed))  # fmt: skip
    n_segments, steps = 50, max(int(round(duration_ps * 1000.0 / timestep_fs / 50)), 1)
    first = work.get_potential_energy() / len(work)
    for i in range(1, n_segments + 1):
        target = start_k + (end_k - start_k) * i / n_segments
        dyn.set_temperature(temperature_K=target)
        dyn.run(steps)
        t_ps = i * steps * timestep_fs / 1000.0
        try:  # a melt raises the energy by ~0.5 eV/atom: the jump limit follows the heat put in
            check_sample(work.get_potential_energy() / len(work), first, work, t_ps,
                         max_energy_jump_ev_per_atom=2.0 + 3.0 * units.kB * (target - start_k))  # fmt: skip
        except MDFailure as failure:
            return target, MDRun(end_k, len(work), duration_ps, failure.kind, failure.time_ps)
    return end_k, MDRun(end_k, len(work), duration_ps)


def compression_ramp(
    atoms: Atoms, calculator: Calculator, *, temperature_k: float, step: float, end: float, segment_ps: float,
    timestep_fs: float, seed: int,
) -> tuple[float, MDRun]:  # fmt: skip
    """The smallest volume fraction an isotropic compression ramp survived, and its run."""
    work = _thermalised(atoms, calculator, temperature_k, seed)
    cell0 = work.cell.array.copy()
    fractions = np.arange(1.0 - step, end - 1e-9, -step)
    steps = max(int(round(segment_ps * 1000.0 / timestep_fs)), 1)
    duration_ps = len(fractions) * segment_ps
    survived = 1.0
    for i, fraction in enumerate(fractions):
        work.set_cell(cell0 * fraction ** (1.0 / 3.0), scale_atoms=True)
        first = work.get_potential_energy() / len(work)
        dyn = _langevin(work, timestep_fs * units.fs, temperature_K=temperature_k, friction=0.02, fixcm=False,
                        rng=np.random.default_rng(seed + i))  # fmt: skip
        dyn.run(steps)
        t_ps = (i + 1) * segment_ps
        try:
            check_sample(work.get_potential_energy() / len(work), first, work, t_ps)
        except MDFailure as failure:
            return survived, MDRun(temperature_k, len(work), duration_ps, failure.kind, failure.time_ps)
        survived = round(float(fraction), 6)
    return survived, MDRun(temperature_k, len(work), duration_ps)


class MDStability(Property):
    """NVE drift, heating and compression ramps (see the module docstring) on a supercell of at least
    ``min_atoms`` atoms."""

    name = "md_stability"
    suite_order = 250

    @classmethod
    def suite_entries(cls, material) -> list[SuiteEntry]:
        """``md_stability``: every crystal material."""
        return [cls.suite_entry("md_stability")]

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        min_atoms: int = 64,
        timestep_fs: float = 1.0,
        nve_temperature_k: float = 300.0,
        nve_ps: float = 1.0,
        ramp_start_k: float = 300.0,
        ramp_end_k: float = 3000.0,
        ramp_ps: float = 5.0,
        compression_step: float = 0.05,
        compression_end: float = 0.7,
        compression_segment_ps: float = 0.2,
        seed: int = 0,
    ) -> None:
        super().__init__(label, material=material)
        if not 0.0 < timestep_fs <= 5.0 or nve_ps <= 0 or ramp_ps <= 0 or ramp_end_k <= ramp_start_k:
            raise InputError(None, "timestep_fs/nve_ps/ramp", "0 < timestep <= 5 fs, positive lengths, end > start",
                             got=(timestep_fs, nve_ps, ramp_ps, ramp_start_k, ramp_end_k))  # fmt: skip
        if not 0.0 < compression_step < 1.0 - compression_end < 1.0:
            raise InputError(None, "compression_step/compression_end", "0 < step < 1 - end < 1",
                             got=(compression_step, compression_end))  # fmt: skip
        self.min_atoms, self.timestep_fs, self.seed = int(min_atoms), float(timestep_fs), int(seed)
        self.nve_temperature_k, self.nve_ps = float(nve_temperature_k), float(nve_ps)
        self.ramp_start_k, self.ramp_end_k, self.ramp_ps = float(ramp_start_k), float(ramp_end_k), float(ramp_ps)
        self.compression_step, self.compression_end = float(compression_step), float(compression_end)
        self.compression_segment_ps = float(compression_segment_ps)

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        cell = _supercell(self.context_for(context).relaxed_bulk(calculator).cell(), self.min_atoms)
        common: dict[str, Any] = {"timestep_fs": self.timestep_fs, "seed": self.seed}
        drift, nve_run, curve = nve_drift(cell, calculator, temperature_k=self.nve_temperature_k,
                                          duration_ps=self.nve_ps, **common)  # fmt: skip
        survived_k, heat_run = heating_ramp(cell, calculator, start_k=self.ramp_start_k, end_k=self.ramp_end_k,
                                            duration_ps=self.ramp_ps, **common)  # fmt: skip
        survived_v, squeeze_run = compression_ramp(
            cell, calculator, temperature_k=self.nve_temperature_k, step=self.compression_step,
            end=self.compression_end, segment_ps=self.compression_segment_ps, **common,
        )  # fmt: skip
        values = {
            "nve_drift_mev_atom_ps": abs(drift),
            "heating_survival_k": survived_k,
            "compression_survival_volume_fraction": survived_v,
        }
        units_ = {"nve_drift_mev_atom_ps": "meV/atom/ps", "heating_survival_k": "K",
                  "compression_survival_volume_fraction": "1"}  # fmt: skip
        details = {"md_runs": [r.to_dict() for r in (nve_run, heat_run, squeeze_run)], "nve_curve": curve,
                   "n_atoms": len(cell)}  # fmt: skip
        return self.result(values, units_, error_metrics={"nve_drift_mev_atom_ps"}, details=details)
