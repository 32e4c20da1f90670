"""Point-defect diffusion from MD, with statistics: D(T) with a standard error at each temperature, an Arrhenius fit
D = D0 exp(-Ea / kB T) with standard errors of Ea and D0, typed outcomes, and a check against the model's own NEB
barrier.

One defect (vacancy or interstitial) in a supercell of the material (``size`` ± 1 atoms) at the model's 0 K lattice
constant, starting from the model's relaxed defect cell (the one the defect formation energy relaxes, shared through
the model's context), NVT (LAMMPS when the model has a pair style, ASE Langevin otherwise, see :mod:`.md`).

**Sampling.** At each temperature independent replicas (seeds) of ``replica_ps`` are run until the defect has made
``target_hops`` hops (Wigner–Seitz tracking, :mod:`.defect_tracking`) or ``max_replicas`` replicas have run.

**D and its error.** D is the *summed* atomic MSD rate, D = sum_i <|Δr_i|²> / 6t: each jump of the defect moves one
atom (vacancy) or a pair of atoms (interstitialcy) by about one bond, so it grows like the defect's own MSD
(correlation factors are not corrected for; the definition is the same for every model). It is a block average:
after ``equilibration_ps`` each replica is cut into blocks of ``block_ps``, each block gives
sum_i |r̄_i(end) - r̄_i(start)|² / 6τ with vibration-averaged positions, and D ± SE is the mean ± standard error over
the blocks of all replicas — or, with three or more replicas, the standard error of the replicas' own means when
that is larger (a defect trapped in a long-lived configuration makes the blocks of one replica correlated). At
least ``min_replicas`` replicas run at each temperature. The fit weights each temperature by that error
(:mod:`.arrhenius`).

**Typed outcomes** (never an ok value): per temperature ``ok``, ``too_few_hops`` (< ``min_hops`` in all replicas),
``melted`` (crystalline fraction of the vibration-averaged structure below ``min_crystalline_fraction`` for
``lost_windows`` windows), ``defect_lost`` (the defect count changed: Frenkel pairs, clustering) and ``exploded``
(:class:`.md.MDFailure`). Fewer than ``min_temperatures`` ok temperatures, or a fit that is ``non_arrhenius``
(negative Ea, or residuals beyond their errors), raise :class:`~mlipscope.errors.EvaluationError` with that kind and
the per-temperature details, so the runner stores a failed evaluation that still carries them.

**Survival data.** Every replica is recorded in ``details["md_runs"]`` (:class:`mlipscope.analysis.survival.MDRun`:
temperature, atoms, length, failure kind and time) for the MD survival analysis.

**NEB check** (``neb_check``): the model's own climbing-image NEB barrier for the same defect
(:class:`.migration.MigrationBarrier` with ``neb`` settings, shared through the model's context) is stored beside
Ea: ``ea_minus_neb_ev`` and ``ea_neb_consistent`` (1 when |Ea - E_NEB| <= 2 sqrt(SE(Ea)² + ``neb_uncertainty_ev``²)).
For a vacancy at fixed concentration the MD activation energy *is* the migration barrier, so a model whose MD and
NEB disagree beyond that has a second, lower path or an unconverged NEB.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.defects import defect_cell, neighbour_shells, perfect_supercell, vacancy_sites
from mlipscope.materials.material import Material
from mlipscope.properties.arrhenius import arrhenius_fit
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.defect_tracking import (
    DefectTrack,
    block_diffusivities_a2_ps,
    track_defect,
)
from mlipscope.properties.md import MDFailure, MDRun, coordination_numbers, md_engine, run_nvt
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import MDSettings

#: 1 Å²/ps in cm²/s
A2_PER_PS_TO_CM2_PER_S = 1e-4
DEFECTS = ("vacancy", "interstitial")
#: typed outcomes of one temperature and of the whole property
OUTCOMES = ("ok", "too_few_hops", "melted", "defect_lost", "exploded", "non_arrhenius")


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


def melting_time_ps(
    track: DefectTrack, cell: np.ndarray, numbers: np.ndarray, bond_cutoff_a: float, coordination: int,
    min_fraction: float, run_windows: int,
) -> float | None:  # fmt: skip
    """Start of the first run of ``run_windows`` windows whose vibration-averaged structure has a crystalline
    fraction (atoms with the crystal's coordination) below ``min_fraction``; None if the cell stayed crystalline.
    In a liquid atoms move Ångströms within a window, so the averaged structure is disordered (see
    :func:`.md.crystalline_fraction`)."""
    from ase import Atoms

    low = 0
    for k, mean in enumerate(track.mean_positions_a):
        atoms = Atoms(numbers=numbers, positions=mean, cell=cell, pbc=True)
        atoms.wrap()
        fraction = float(np.mean(coordination_numbers(atoms, bond_cutoff_a) == coordination))
        low = low + 1 if fraction < min_fraction else 0
        if low >= run_windows:
            return float(track.window_times_ps[k - run_windows + 1])
    return None


class DefectDiffusion(Property):
    """Vacancy or interstitial diffusion by MD at several temperatures, with errors (see the module docstring).

    ``lammps_commands``/``elements``: pair commands for LAMMPS MD (the runner fills them in for families with a
    pair style); without them a LAMMPSlib calculator's own commands are used, else ASE MD. ``engine`` forces one
    ("lammps" or "ase"); "auto" picks LAMMPS when it can. ``lattice_a`` fixes the lattice constant (Å); by
    default it is the model's relaxed 0 K value (thermal expansion is ignored: the same for every model).
    """

    name = "diffusion"
    suite_order = 100

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``diffusion_<defect>`` per defect of ``md.diffusion`` (default: vacancy) if ``md.temperatures_k`` is set."""
        temperatures = material.md.get("temperatures_k")
        if not temperatures:
            return []
        return [
            cls.suite_entry(f"diffusion_{d}", defect=d, temperatures_k=tuple(temperatures))
            for d in material.md.get("diffusion", ["vacancy"])
        ]

    def __init__(
        self,
        label: str | None = None,
        *,
        defect: str = "vacancy",
        size: int | None = None,
        temperatures_k: tuple[float, ...] = (1000.0, 1200.0, 1400.0),
        replica_ps: float = 25.0,
        target_hops: int = 60,
        min_replicas: int = 3,
        max_replicas: int = 8,
        min_hops: int = 8,
        equilibration_ps: float = 1.0,
        block_ps: float = 4.0,
        timestep_fs: float = 1.0,
        sample_every_fs: float = 50.0,
        window_frames: int = 5,
        lost_windows: int = 8,
        seed: int = 0,
        lattice_a: float | None = None,
        material=None,
        engine: str = "auto",
        lammps_commands: list[str] | None = None,
        elements: list[str] | None = None,
        min_crystalline_fraction: float = 0.75,
        min_temperatures: int = 2,
        neb_check: bool = True,
        neb: dict[str, Any] | None = None,
        neb_uncertainty_ev: float = 0.03,
    ) -> None:
        super().__init__(label, material=material)
        if defect not in DEFECTS:
            raise InputError(None, "defect", f"one of {list(DEFECTS)}", got=defect)
        if len(temperatures_k) < min_temperatures or min(temperatures_k) <= 0:
            raise InputError(None, "temperatures_k", f"at least {min_temperatures} positive temperatures")
        if not 0 <= equilibration_ps < replica_ps - block_ps:
            raise InputError(
                None, "equilibration_ps", f"a time in [0, replica_ps - block_ps = {replica_ps - block_ps})"
            )
        if not 1 <= min_replicas <= max_replicas or target_hops < min_hops:
            raise InputError(
                None,
                "min_replicas/max_replicas/target_hops",
                "1 <= min_replicas <= max_replicas, target_hops >= min_hops",
            )
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)
        self.defect = defect
        self.size = size
        self.temperatures_k = tuple(float(t) for t in temperatures_k)
        self.replica_ps = replica_ps
        self.target_hops = target_hops
        self.min_replicas = min_replicas
        self.max_replicas = max_replicas
        self.min_hops = min_hops
        self.equilibration_ps = equilibration_ps
        self.block_ps = block_ps
        self.timestep_fs = timestep_fs
        self.sample_every_fs = sample_every_fs
        self.window_frames = window_frames
        self.lost_windows = lost_windows
        self.seed = seed
        self.lattice_a = lattice_a
        self.engine = engine
        self.lammps_commands = list(lammps_commands) if lammps_commands else None
        self.elements = list(elements) if elements else None
        self.md_settings()  # validates the MD settings (engine, time step) before any calculation
        self.min_crystalline_fraction = min_crystalline_fraction
        self.min_temperatures = min_temperatures
        self.neb_check = neb_check and defect in self.material.migration
        self.neb = dict(neb or {})
        self.neb_uncertainty_ev = neb_uncertainty_ev

    def md_settings(self) -> MDSettings:
        """The settings of every replica's MD (its seed: ``seed + 1000 * temperature index + replica``)."""
        return MDSettings(
            timestep_fs=self.timestep_fs,
            sample_every_fs=self.sample_every_fs,
            seed=self.seed,
            engine=self.engine,
            lammps_commands=self.lammps_commands,
            elements=self.elements,
        )

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        material = self.material
        repeats = material.repeats_for_size(self.size)
        ctx = self.context_for(context)
        a = self.lattice_a or ctx.relaxed_bulk(calculator).lattice_constant_a
        start, start_note = self._start_cell(calculator, ctx, repeats, a)
        sites = perfect_supercell(material, repeats, a).positions
        md = md_engine(self.md_settings(), calculator)
        first, second, coordination = neighbour_shells(material, a)
        bond_cutoff_a = 0.5 * (first + second)  # halfway between the first and second neighbour shells

        per_t: list[dict[str, Any]] = []
        runs: list[MDRun] = []
        for k, temperature in enumerate(self.temperatures_k):
            summary, t_runs = self._temperature(start, sites, temperature, k, md, bond_cutoff_a, coordination)
            per_t.append(summary)
            runs += t_runs

        details: dict[str, Any] = {
            "defect": self.defect,
            "lattice_a": a,
            "start_cell": start_note,
            "per_temperature": per_t,
            "md_runs": [r.to_dict() for r in runs],
            "outcomes": {f"{s['temperature_k']:g}": s["outcome"] for s in per_t},
        }
        values: dict[str, float] = {}
        for s in per_t:
            tag = f"{s['temperature_k']:g}k"
            ok = s["outcome"] == "ok"
            values[f"d_{tag}_cm2_s"] = s["diffusivity_cm2_s"] if ok else math.nan
            values[f"d_{tag}_stderr_cm2_s"] = s["diffusivity_stderr_cm2_s"] if ok else math.nan
            values[f"n_hops_{tag}"] = s["n_hops"]
        used = [s for s in per_t if s["outcome"] == "ok"]
        if len(used) < self.min_temperatures:
            kinds = Counter(s["outcome"] for s in per_t if s["outcome"] != "ok")
            kind = kinds.most_common(1)[0][0] if kinds else "too_few_hops"
            reasons = "; ".join(s["reason"] for s in per_t if s["outcome"] != "ok")
            raise EvaluationError(
                f"{kind}: {self.defect} diffusion has {len(used)} usable temperature(s) < {self.min_temperatures} "
                f"({reasons})",
                kind=kind,
                details=details,
            )
        fit = arrhenius_fit(
            np.array([s["temperature_k"] for s in used]),
            np.array([s["diffusivity_cm2_s"] for s in used]),
            np.array([s["diffusivity_stderr_cm2_s"] for s in used]),
        )
        details["arrhenius"] = fit.as_dict()
        why = fit.non_arrhenius_reason()
        if why:
            raise EvaluationError(
                f"non_arrhenius: {self.defect} diffusion: {why}", kind="non_arrhenius", details=details
            )
        values.update(
            activation_energy_ev=fit.activation_energy_ev,
            activation_energy_stderr_ev=fit.activation_energy_stderr_ev,
            log10_prefactor_cm2_s=fit.log10_prefactor_cm2_s,
            log10_prefactor_stderr=fit.log10_prefactor_stderr,
            arrhenius_p_value=fit.p_value,
            n_temperatures_fitted=len(used),
        )
        if self.neb_check:
            check, note = self._neb_check(calculator, ctx, fit.activation_energy_ev, fit.activation_energy_stderr_ev)
            values.update(check)
            details["neb_check"] = {**check, "note": note}
        units_ = {k: ("cm2/s" if k.startswith("d_") else "count") for k in values}
        units_.update(
            activation_energy_ev="eV",
            activation_energy_stderr_ev="eV",
            log10_prefactor_cm2_s="log10(cm2/s)",
            log10_prefactor_stderr="log10(cm2/s)",
            arrhenius_p_value="probability",
            neb_barrier_ev="eV",
            ea_minus_neb_ev="eV",
            ea_neb_consistent="bool",
        )
        return self.result(values, {k: units_[k] for k in values}, details=details)

    def _start_cell(self, calculator, ctx, repeats: int, a: float):
        """The MD's first frame: the model's relaxed defect cell, shared with the defect formation energy of the
        same supercell (relaxed once per model); the ideal cell if that relaxation fails (said in the details)."""
        name = start_geometry(self.material, self.defect)
        try:
            shared = ctx.relaxed_defect_cell(calculator, name, self.size, a)
        except EvaluationError as exc:
            return defect_cell(self.material, name, repeats, a), {"relaxed": False, "why": str(exc)[:300]}
        return shared.atoms, {"relaxed": True, **shared.provenance()}

    def _temperature(
        self, start, sites, temperature, index, md, bond_cutoff_a, coordination
    ) -> tuple[dict[str, Any], list[MDRun]]:
        """Replicas at one temperature until ``target_hops`` (or a failure, or ``max_replicas``)."""
        runs: list[MDRun] = []
        blocks: list[float] = []
        per_replica: list[float] = []  # mean block D of each replica
        hops, outcome, reason, atom_steps_per_s = 0, "ok", "", math.nan
        for replica in range(self.max_replicas):
            seed = self.seed + 1000 * index + replica
            try:
                traj = run_nvt(start, temperature_k=temperature, duration_ps=self.replica_ps, seed=seed, **md)
            except MDFailure as exc:
                runs.append(MDRun(temperature, len(start), self.replica_ps, exc.kind, exc.time_ps))
                outcome, reason = exc.kind, f"{exc.kind} at {temperature:g} K (replica {replica}): {exc}"
                break
            atom_steps_per_s = traj.atom_steps_per_s
            track = track_defect(traj, sites, window_frames=self.window_frames, lost_windows=self.lost_windows)
            melted_at = melting_time_ps(
                track, traj.cell, traj.numbers, bond_cutoff_a, coordination,
                self.min_crystalline_fraction, self.lost_windows,
            )  # fmt: skip
            if melted_at is not None:
                runs.append(MDRun(temperature, len(start), self.replica_ps, "melted", melted_at))
                outcome = "melted"
                reason = f"melted at {temperature:g} K after {melted_at:.1f} ps (replica {replica})"
                break
            if track.lost:
                runs.append(MDRun(temperature, len(start), self.replica_ps, "defect_lost", track.lost_at_ps))
                outcome = "defect_lost"
                reason = (
                    f"defect lost at {temperature:g} K after {track.lost_at_ps:.1f} ps (replica {replica}): "
                    f"{int(track.defect_counts.max())} defects instead of {track.expected_count}"
                )
                break
            runs.append(MDRun(temperature, len(start), self.replica_ps))
            hops += track.n_hops
            keep = track.window_times_ps >= self.equilibration_ps
            replica_blocks = block_diffusivities_a2_ps(
                track.mean_positions_a[keep], track.window_times_ps[keep], self.block_ps
            ).tolist()
            blocks += replica_blocks
            if replica_blocks:
                per_replica.append(float(np.mean(replica_blocks)) * A2_PER_PS_TO_CM2_PER_S)
            if hops >= self.target_hops and replica + 1 >= self.min_replicas:
                break
        d = np.array(blocks) * A2_PER_PS_TO_CM2_PER_S
        mean = float(d.mean()) if len(d) else math.nan
        stderr = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else math.nan
        if len(per_replica) >= 3:
            # blocks of one replica are correlated when the defect is trapped for a while (a long-lived
            # configuration): the scatter between independent replicas then exceeds the block error; keep the larger
            stderr = max(stderr, float(np.std(per_replica, ddof=1) / math.sqrt(len(per_replica))))
        if outcome == "ok" and (hops < self.min_hops or not mean > 0 or not stderr > 0):
            outcome = "too_few_hops"
            reason = (
                f"too few hops at {temperature:g} K: {hops} < {self.min_hops} in "
                f"{len(runs) * self.replica_ps:g} ps ({len(runs)} replicas)"
            )
        summary = {
            "temperature_k": temperature,
            "outcome": outcome,
            "reason": reason,
            "n_hops": hops,
            "n_replicas": len(runs),
            "simulated_ps": float(sum(r.time_ps for r in runs)),
            "n_blocks": len(d),
            "diffusivity_cm2_s": mean,
            "diffusivity_stderr_cm2_s": stderr,
            "replica_diffusivities_cm2_s": per_replica,
            "atom_steps_per_s": atom_steps_per_s,
        }
        return summary, runs

    def _neb_check(self, calculator, ctx, ea: float, ea_stderr: float) -> tuple[dict[str, float], str]:
        from mlipscope.properties.migration import MigrationBarrier

        settings = {"lattice_a": self.lattice_a, **self.neb}  # the MD's lattice unless the NEB settings say otherwise
        neb = MigrationBarrier(
            f"migration_{self.defect}", defect=self.defect, size=self.size, material=self.material, **settings
        )
        try:
            barrier = neb.compute(calculator, ctx).values["barrier_ev"]
        except EvaluationError as exc:  # no barrier to compare with: say why, keep the diffusion values
            return {"neb_barrier_ev": math.nan, "ea_minus_neb_ev": math.nan, "ea_neb_consistent": math.nan}, str(exc)
        diff = ea - barrier
        combined = math.sqrt(ea_stderr**2 + self.neb_uncertainty_ev**2)
        consistent = abs(diff) <= 2.0 * combined
        note = "" if consistent else f"MD Ea differs from the NEB barrier by {diff:+.3f} eV (> 2 x {combined:.3f})"
        return {"neb_barrier_ev": barrier, "ea_minus_neb_ev": diff, "ea_neb_consistent": float(consistent)}, note
