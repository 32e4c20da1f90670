"""Point-defect diffusion from MD: diffusivity from the mean squared displacement at several temperatures and an
Arrhenius fit D = D0 exp(-Ea / kB T) giving the activation energy Ea and the prefactor D0.

One defect (vacancy or interstitial) in a small supercell of the material (``size`` ± 1 atoms) at the model's
0 K lattice constant, NVT (LAMMPS when the model has a pair style, ASE Langevin otherwise, see :mod:`.md`). The defect
diffusivity is taken from the *summed* atomic MSD: each jump of the defect moves one atom (vacancy) or a pair of
atoms (interstitialcy) by about one bond, so sum_i <|r_i(t) - r_i(0)|^2> grows like the defect's own MSD and
D_defect = slope / 6 (correlation factors are not corrected for; the same definition applies to every model).

Failures are data: a temperature at which the cell melts (crystalline fraction below ``min_crystalline_fraction``,
see :func:`.md.crystalline_fraction`) or where fewer than ``min_hops`` site jumps happen (see
:func:`.md.count_site_hops`) is left out of the fit with its reason in ``details["failures"]``; fewer than
``min_temperatures`` usable temperatures, or an exploding run at any temperature, raise
:class:`~mlipscope.errors.EvaluationError` (recorded by the runner as a failed evaluation with that reason).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator
from scipy.stats import linregress

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.defects import defect_cell, neighbour_shells, perfect_supercell, vacancy_sites
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.md import MDTrajectory, count_site_hops, crystalline_fraction, lammps_setup, run_nvt

#: 1 Å²/ps in cm²/s
A2_PER_PS_TO_CM2_PER_S = 1e-4
DEFECTS = ("vacancy", "interstitial")


def start_geometry(material, defect: str) -> str:
    """The defect cell that starts the MD: the (first) vacancy, or the material's first split-dumbbell
    interstitial (diamond Si: the <110> dumbbell, the DFT ground-state interstitial), else its first interstitial."""
    if defect == "vacancy":
        return vacancy_sites(material)[0].name
    proto = material.prototype
    names = list(material.interstitials)
    if not names or proto is None:
        raise InputError(material.source or None, "defects.interstitials", "an interstitial for interstitial MD")
    dumbbells = [n for n in names if proto.interstitial(n).is_dumbbell]
    return (dumbbells or names)[0]


def summed_msd_a2(trajectory: MDTrajectory, skip_ps: float) -> tuple[np.ndarray, np.ndarray]:
    """(times in ps, sum over atoms of the squared displacement in Å²) from the first frame at or after
    ``skip_ps``, centre-of-mass drift removed."""
    keep = trajectory.times_ps >= skip_ps
    disp = trajectory.positions_a[keep] - trajectory.positions_a[keep][0]
    disp -= disp.mean(axis=1, keepdims=True)
    return trajectory.times_ps[keep], (disp**2).sum(axis=(1, 2))


def defect_diffusivity_cm2_s(trajectory: MDTrajectory, skip_ps: float) -> tuple[float, float]:
    """(D, standard error of D) in cm²/s from a linear fit of the summed atomic MSD after ``skip_ps``."""
    fit = linregress(*summed_msd_a2(trajectory, skip_ps))
    return fit.slope / 6.0 * A2_PER_PS_TO_CM2_PER_S, fit.stderr / 6.0 * A2_PER_PS_TO_CM2_PER_S


def arrhenius_fit(temperatures_k: np.ndarray, diffusivities_cm2_s: np.ndarray) -> dict[str, float]:
    """Least-squares fit of ln D against 1/(kB T): activation energy (eV), log10 of the prefactor (cm²/s) and their
    standard errors (NaN with only two temperatures)."""
    inv_kt = 1.0 / (units.kB * np.asarray(temperatures_k, dtype=float))
    fit = linregress(inv_kt, np.log(np.asarray(diffusivities_cm2_s, dtype=float)))
    two_points = len(inv_kt) < 3
    return {
        "activation_energy_ev": -fit.slope,
        "activation_energy_stderr_ev": math.nan if two_points else fit.stderr,
        "log10_prefactor_cm2_s": fit.intercept / math.log(10.0),
        "log10_prefactor_stderr": math.nan if two_points else fit.intercept_stderr / math.log(10.0),
    }


class DefectDiffusion(Property):
    """Vacancy or interstitial diffusion by MD at several temperatures; Arrhenius activation energy and prefactor.

    ``lammps_commands``/``elements``: pair commands for LAMMPS MD (the runner fills them in for families with a
    pair style); without them a LAMMPSlib calculator's own commands are used, else ASE MD. ``engine`` forces one
    ("lammps" or "ase"); "auto" picks LAMMPS when it can. ``lattice_a`` fixes the lattice constant (Å); by
    default it is the model's relaxed 0 K value (thermal expansion is ignored: the same for every model).
    """

    name = "diffusion"

    def __init__(
        self,
        label: str | None = None,
        *,
        defect: str = "vacancy",
        size: int | None = None,
        temperatures_k: tuple[float, ...] = (1200.0, 1400.0, 1600.0),
        duration_ps: float = 30.0,
        equilibration_ps: float = 2.0,
        timestep_fs: float = 1.0,
        sample_every_fs: float = 50.0,
        seed: int = 0,
        lattice_a: float | None = None,
        material=None,
        engine: str = "auto",
        lammps_commands: list[str] | None = None,
        elements: list[str] | None = None,
        min_hops: int = 4,
        min_crystalline_fraction: float = 0.75,
        min_temperatures: int = 2,
    ) -> None:
        super().__init__(label, material=material)
        if defect not in DEFECTS:
            raise InputError(None, "defect", f"one of {list(DEFECTS)}", got=defect)
        if engine not in ("auto", "lammps", "ase"):
            raise InputError(None, "engine", "one of 'auto', 'lammps', 'ase'", got=engine)
        if len(temperatures_k) < min_temperatures or min(temperatures_k) <= 0:
            raise InputError(None, "temperatures_k", f"at least {min_temperatures} positive temperatures")
        if not 0 <= equilibration_ps < duration_ps:
            raise InputError(None, "equilibration_ps", f"a time in [0, duration_ps={duration_ps})")
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)
        self.defect = defect
        self.size = size
        self.temperatures_k = tuple(float(t) for t in temperatures_k)
        self.duration_ps = duration_ps
        self.equilibration_ps = equilibration_ps
        self.timestep_fs = timestep_fs
        self.sample_every_fs = sample_every_fs
        self.seed = seed
        self.lattice_a = lattice_a
        self.engine = engine
        self.lammps_commands = list(lammps_commands) if lammps_commands else None
        self.elements = list(elements) if elements else None
        self.min_hops = min_hops
        self.min_crystalline_fraction = min_crystalline_fraction
        self.min_temperatures = min_temperatures

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        material = self.material
        repeats = material.repeats_for_size(self.size)
        a = self.lattice_a or self.context_for(context).relaxed_bulk(calculator).lattice_constant_a
        start = defect_cell(material, start_geometry(material, self.defect), repeats, a)
        sites = perfect_supercell(material, repeats, a).positions
        lammps = None if self.engine == "ase" else lammps_setup(calculator, self.lammps_commands, self.elements)
        if self.engine == "lammps" and lammps is None:
            raise InputError(None, "engine", "LAMMPS pair commands (lammps_commands) for engine 'lammps'")
        # bonds: halfway between the first and second neighbour shells of the perfect crystal
        first, second, coordination = neighbour_shells(material, a)
        bond_cutoff_a = 0.5 * (first + second)

        values: dict[str, float] = {}
        per_t: list[dict[str, Any]] = []
        failures: dict[str, str] = {}
        used_t, used_d = [], []
        for k, temperature in enumerate(self.temperatures_k):
            traj = run_nvt(
                start,
                temperature_k=temperature,
                duration_ps=self.duration_ps,
                timestep_fs=self.timestep_fs,
                sample_every_fs=self.sample_every_fs,
                seed=self.seed + k,
                calculator=calculator,
                lammps_commands=lammps[0] if lammps else None,
                elements=(lammps[1] or None) if lammps else None,
            )
            tag = f"{temperature:g}k"
            crystalline = crystalline_fraction(traj, bond_cutoff_a, coordination)
            hops = count_site_hops(traj, sites)
            d_cm2_s, d_err = defect_diffusivity_cm2_s(traj, self.equilibration_ps)
            fit_times, fit_msd = summed_msd_a2(traj, self.equilibration_ps)
            per_t.append(
                {
                    "temperature_k": temperature,
                    "engine": traj.engine,
                    "n_hops": hops,
                    "crystalline_fraction": crystalline,
                    "diffusivity_cm2_s": d_cm2_s,
                    "diffusivity_stderr_cm2_s": d_err,
                    "mean_temperature_k": float(traj.temperature_k[1:].mean()),
                    "atom_steps_per_s": traj.atom_steps_per_s,
                    "fit_times_ps": fit_times.tolist(),
                    "summed_msd_a2": fit_msd.tolist(),
                }
            )
            values[f"n_hops_{tag}"] = hops
            values[f"d_{tag}_cm2_s"] = math.nan
            if crystalline < self.min_crystalline_fraction:
                failures[tag] = (
                    f"melted at {temperature:g} K: crystalline fraction {crystalline:.2f} "
                    f"< {self.min_crystalline_fraction:g}"
                )
            elif hops < self.min_hops:
                failures[tag] = (
                    f"too few hops at {temperature:g} K: {hops} < {self.min_hops} in {self.duration_ps:g} ps"
                )
            elif not d_cm2_s > 0:
                failures[tag] = f"no diffusion at {temperature:g} K: MSD slope {d_cm2_s:.3g} cm²/s"
            else:
                values[f"d_{tag}_cm2_s"] = d_cm2_s
                used_t.append(temperature)
                used_d.append(d_cm2_s)

        details = {"per_temperature": per_t, "failures": failures, "lattice_a": a, "defect": self.defect}
        if len(used_t) < self.min_temperatures:
            reasons = "; ".join(failures.values())
            raise EvaluationError(
                f"{self.defect} diffusion: {len(used_t)} usable temperature(s) < {self.min_temperatures} ({reasons})"
            )
        values.update(arrhenius_fit(np.array(used_t), np.array(used_d)))
        values["n_temperatures_fitted"] = len(used_t)
        units_ = {k: ("cm2/s" if k.startswith("d_") else "count") for k in values}
        units_.update(
            activation_energy_ev="eV",
            activation_energy_stderr_ev="eV",
            log10_prefactor_cm2_s="log10(cm2/s)",
            log10_prefactor_stderr="log10(cm2/s)",
        )
        return self.result(values, units_, details=details)
