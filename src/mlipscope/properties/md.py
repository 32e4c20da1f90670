"""Shared molecular-dynamics helpers: NVT runs through LAMMPS or ASE, and the failure checks of MD properties.

Two engines give the same :class:`MDTrajectory` (unwrapped positions sampled every ``sample_every_fs``):

- LAMMPS (``lammps_commands`` + ``elements``): the ``lammps`` Python module is driven directly (``fix nvt``,
  positions gathered by atom ID with their image flags), far faster than ASE MD for a family with a pair style;
- ASE (any calculator): :class:`ase.md.langevin.Langevin`. ASE never wraps positions during MD, so they are
  unwrapped already.

Failures are data, not crashes: :func:`check_sample` raises :class:`MDFailure` (kind ``exploded``, with the
time) for exploding runs (non-finite values, an energy per atom that jumps by more than
``max_energy_jump_ev_per_atom`` from its first value, atoms closer than ``min_distance_a``), and
:func:`crystalline_fraction` measures loss of crystallinity (melting) for the caller to judge.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.geometry import get_distances

from mlipscope._lammps import new_lammps
from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.settings import MDSettings

#: default exploding-run thresholds (thermal + melting energy of Si at 2000 K is < 0.6 eV/atom)
MAX_ENERGY_JUMP_EV_PER_ATOM = 2.0
MIN_DISTANCE_A = 1.2


class MDFailure(EvaluationError):
    """An MD run that failed at ``time_ps``: ``kind`` is one of :data:`MD_FAILURE_KINDS` (the survival analysis
    counts these as events at that time)."""

    def __init__(self, kind: str, time_ps: float, message: str) -> None:
        super().__init__(message, kind=kind)
        self.time_ps = float(time_ps)


#: failure kinds of an MD run (a run that ends without one is censored at its length)
MD_FAILURE_KINDS = ("exploded", "melted", "defect_lost")


@dataclass(frozen=True)
class MDRun:
    """One MD run (a survival datum of :mod:`mlipscope.analysis.survival`): its temperature, atom count and
    length, and the failure (kind and time) if one happened."""

    temperature_k: float
    n_atoms: int
    duration_ps: float  # the planned length (the censoring time)
    failure_kind: str | None = None  # "exploded", "melted", "defect_lost" or None
    failure_time_ps: float | None = None

    @property
    def failed(self) -> bool:
        return self.failure_kind is not None

    @property
    def time_ps(self) -> float:
        """Time to failure, or the run length for a run that survived (censored)."""
        return float(self.failure_time_ps) if self.failed and self.failure_time_ps is not None else self.duration_ps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MDRun:
        return cls(
            temperature_k=float(data["temperature_k"]),
            n_atoms=int(data["n_atoms"]),
            duration_ps=float(data["duration_ps"]),
            failure_kind=data.get("failure_kind"),
            failure_time_ps=None if data.get("failure_time_ps") is None else float(data["failure_time_ps"]),
        )


@dataclass
class MDTrajectory:
    """Sampled NVT trajectory. ``positions_a`` are unwrapped, shape (n_frames, n_atoms, 3), in the frame of
    ``cell`` (LAMMPS may rotate a triclinic cell; distances and displacements are unaffected)."""

    numbers: np.ndarray
    cell: np.ndarray
    times_ps: np.ndarray
    positions_a: np.ndarray
    energy_ev_per_atom: np.ndarray
    temperature_k: np.ndarray
    engine: str
    n_steps: int
    wall_time_s: float

    @property
    def n_atoms(self) -> int:
        return int(len(self.numbers))

    @property
    def atom_steps_per_s(self) -> float:
        return self.n_atoms * self.n_steps / self.wall_time_s if self.wall_time_s > 0 else math.nan

    def atoms(self, index: int = -1, positions_a: np.ndarray | None = None) -> Atoms:
        """Frame ``index`` (or the given positions) as wrapped periodic Atoms."""
        pos = self.positions_a[index] if positions_a is None else positions_a
        atoms = Atoms(numbers=self.numbers, positions=pos, cell=self.cell, pbc=True)
        atoms.wrap()
        return atoms

    def msd_a2(self) -> np.ndarray:
        """Mean squared displacement per frame, averaged over atoms, centre-of-mass drift removed (Å²)."""
        disp = self.positions_a - self.positions_a[0]
        disp -= disp.mean(axis=1, keepdims=True)
        return (disp**2).sum(axis=2).mean(axis=1)


def check_sample(
    energy_ev_per_atom: float,
    first_energy_ev_per_atom: float,
    atoms: Atoms,
    time_ps: float,
    *,
    max_energy_jump_ev_per_atom: float = MAX_ENERGY_JUMP_EV_PER_ATOM,
    min_distance_a: float = MIN_DISTANCE_A,
) -> None:
    """Raise :class:`EvaluationError` when a sampled MD frame shows an exploding run (see the module doc)."""
    if not math.isfinite(energy_ev_per_atom) or not np.all(np.isfinite(atoms.positions)):
        raise MDFailure("exploded", time_ps, f"exploding MD: non-finite energy or positions at t = {time_ps:.3f} ps")
    jump = abs(energy_ev_per_atom - first_energy_ev_per_atom)
    if jump > max_energy_jump_ev_per_atom:
        raise MDFailure(
            "exploded",
            time_ps,
            f"exploding MD: energy per atom moved by {jump:.3g} eV/atom (> {max_energy_jump_ev_per_atom:g}) "
            f"at t = {time_ps:.3f} ps",
        )
    closest = min_pair_distance_a(atoms, min_distance_a)
    if closest < min_distance_a:
        raise MDFailure(
            "exploded",
            time_ps,
            f"exploding MD: atoms {closest:.2f} Å apart (< {min_distance_a:g} Å) at t = {time_ps:.3f} ps",
        )


def min_pair_distance_a(atoms: Atoms, cutoff_a: float) -> float:
    """Shortest interatomic distance if it is below ``cutoff_a`` (minimum image), else inf.

    Why not always ``neighbor_list``: it costs ~6 ms for 64 atoms and MD checks every sample; a periodic k-d tree
    (orthorhombic cells, the usual MD supercell) takes ~0.1 ms. Other cells go through ``neighbor_list``."""
    # scipy and ASE's MD, I/O and neighbour lists are imported where they run: listing a suite imports this module
    from ase.neighborlist import neighbor_list
    from scipy.spatial import cKDTree

    cell = np.array(atoms.cell[:])
    if np.all(atoms.pbc) and np.allclose(cell, np.diag(np.diag(cell))):
        box = np.diag(cell)
        inside = np.mod(atoms.positions, box)
        inside[inside >= box] = 0.0  # the modulo of -1e-17 is the box length itself, which the k-d tree refuses
        tree = cKDTree(inside, boxsize=box)
        pairs = tree.query_pairs(cutoff_a, output_type="ndarray")
        if len(pairs) == 0:
            return math.inf
        delta = atoms.positions[pairs[:, 0]] - atoms.positions[pairs[:, 1]]
        delta -= np.round(delta / box) * box
        return float(np.sqrt((delta**2).sum(axis=1)).min())
    close = neighbor_list("d", atoms, cutoff_a)
    return float(close.min()) if len(close) else math.inf


def run_nvt(
    atoms: Atoms,
    *,
    temperature_k: float,
    duration_ps: float,
    timestep_fs: float = 1.0,
    sample_every_fs: float = 50.0,
    seed: int = 0,
    calculator: Calculator | None = None,
    lammps_commands: list[str] | None = None,
    elements: list[str] | None = None,
    max_energy_jump_ev_per_atom: float = MAX_ENERGY_JUMP_EV_PER_ATOM,
    min_distance_a: float = MIN_DISTANCE_A,
    friction_per_fs: float = MDSettings.friction_per_fs,
    damping_steps: int = MDSettings.damping_steps,
) -> MDTrajectory:
    """NVT MD from ``atoms`` (velocities drawn at ``temperature_k``): LAMMPS when ``lammps_commands`` are given,
    otherwise ASE Langevin with ``calculator`` (the thermostats of :class:`MDSettings`; a property passes its
    settings through :func:`md_engine`). Raises :class:`EvaluationError` for exploding runs."""
    if temperature_k <= 0 or duration_ps <= 0 or timestep_fs <= 0:
        raise InputError(None, "temperature_k/duration_ps/timestep_fs", "positive numbers")
    every = max(1, int(round(sample_every_fs / timestep_fs)))
    n_samples = max(1, int(round(duration_ps * 1000.0 / timestep_fs / every)))
    checks = {"max_energy_jump_ev_per_atom": max_energy_jump_ev_per_atom, "min_distance_a": min_distance_a}
    if lammps_commands:
        return _run_lammps(
            atoms, lammps_commands, elements, temperature_k, timestep_fs, every, n_samples, seed, checks, damping_steps
        )
    if calculator is None:
        raise InputError(None, "calculator", "an ASE calculator or LAMMPS pair commands for MD")
    return _run_ase(atoms, calculator, temperature_k, timestep_fs, every, n_samples, seed, checks, friction_per_fs)


def _run_ase(
    atoms: Atoms,
    calculator: Calculator,
    temperature_k: float,
    timestep_fs: float,
    every: int,
    n_samples: int,
    seed: int,
    checks: dict[str, float],
    friction_per_fs: float,
) -> MDTrajectory:
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    atoms = atoms.copy()
    atoms.calc = calculator
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)
    friction = friction_per_fs / units.fs  # MDSettings says why 0.01/fs
    dyn = Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_k, friction=friction, fixcm=False, rng=rng)
    n = len(atoms)
    positions, energies, temps = [atoms.positions.copy()], [atoms.get_potential_energy() / n], [temperature_k]
    start = time.perf_counter()
    for k in range(n_samples):
        dyn.run(every)
        e = float(atoms.get_potential_energy()) / n
        check_sample(e, energies[0], atoms, (k + 1) * every * timestep_fs / 1000.0, **checks)
        positions.append(atoms.positions.copy())
        energies.append(e)
        temps.append(float(atoms.get_temperature()))
    wall = time.perf_counter() - start
    return MDTrajectory(
        numbers=atoms.numbers.copy(),
        cell=np.array(atoms.cell[:]),
        times_ps=np.arange(n_samples + 1) * every * timestep_fs / 1000.0,
        positions_a=np.array(positions),
        energy_ev_per_atom=np.array(energies),
        temperature_k=np.array(temps),
        engine="ase",
        n_steps=n_samples * every,
        wall_time_s=wall,
    )


def _run_lammps(
    atoms: Atoms,
    commands: list[str],
    elements: list[str] | None,
    temperature_k: float,
    timestep_fs: float,
    every: int,
    n_samples: int,
    seed: int,
    checks: dict[str, float],
    damping_steps: int,
) -> MDTrajectory:
    import ase.io

    elements = elements or sorted(set(atoms.get_chemical_symbols()))
    missing = set(atoms.get_chemical_symbols()) - set(elements)
    if missing:
        raise InputError(None, "elements", f"every element of the structure ({sorted(missing)} missing)", got=elements)
    n = len(atoms)
    lmp = new_lammps()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "start.data"
            ase.io.write(data, atoms, format="lammps-data", specorder=elements, masses=True)
            setup = ["units metal", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p"]
            for command in [*setup, f"read_data {data}", *commands]:
                lmp.command(command)
        # LAMMPS seeds must be positive; the damping time in steps: see MDSettings
        lmp.command(f"velocity all create {temperature_k} {seed + 4928459} mom yes rot no dist gaussian")
        lmp.command(f"fix nvt all nvt temp {temperature_k} {temperature_k} {damping_steps * timestep_fs / 1000.0}")
        lmp.command(f"timestep {timestep_fs / 1000.0}")
        lmp.command("thermo_style custom step temp pe")
        lmp.command("run 0")
        lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
        cell = np.array([[hi[0] - lo[0], 0, 0], [xy, hi[1] - lo[1], 0], [xz, yz, hi[2] - lo[2]]])
        positions = [_gather_unwrapped(lmp, cell, n)]
        energies, temps = [lmp.get_thermo("pe") / n], [lmp.get_thermo("temp")]
        frame = Atoms(numbers=atoms.numbers, cell=cell, pbc=True)
        start = time.perf_counter()
        for k in range(n_samples):
            try:
                lmp.command(f"run {every} pre no post no")
            except Exception as exc:  # noqa: BLE001 - LAMMPS reports lost atoms etc. as a plain exception
                time_ps = (k + 1) * every * timestep_fs / 1000.0
                raise MDFailure(
                    "exploded", time_ps, f"exploding MD: LAMMPS stopped at t = {time_ps:.3f} ps: {exc}"
                ) from None
            pos = _gather_unwrapped(lmp, cell, n)
            e = float(lmp.get_thermo("pe")) / n
            frame.positions = pos
            check_sample(e, energies[0], frame, (k + 1) * every * timestep_fs / 1000.0, **checks)
            positions.append(pos)
            energies.append(e)
            temps.append(float(lmp.get_thermo("temp")))
        wall = time.perf_counter() - start
    finally:
        lmp.close()
    return MDTrajectory(
        numbers=atoms.numbers.copy(),
        cell=cell,
        times_ps=np.arange(n_samples + 1) * every * timestep_fs / 1000.0,
        positions_a=np.array(positions),
        energy_ev_per_atom=np.array(energies),
        temperature_k=np.array(temps),
        engine="lammps",
        n_steps=n_samples * every,
        wall_time_s=wall,
    )


def _gather_unwrapped(lmp, cell: np.ndarray, n: int) -> np.ndarray:
    """Positions ordered by atom ID, unwrapped with the image flags (x + image · cell rows)."""
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)
    image = np.ctypeslib.as_array(lmp.gather_atoms("image", 0, 3)).reshape(n, 3)
    return x + image @ cell


def coordination_numbers(atoms: Atoms, cutoff_a: float) -> np.ndarray:
    """Number of neighbours within ``cutoff_a`` of each atom."""
    from ase.neighborlist import neighbor_list

    first = neighbor_list("i", atoms, cutoff_a)
    return np.bincount(first, minlength=len(atoms))


def crystalline_fraction(
    trajectory: MDTrajectory, cutoff_a: float, coordination: int = 4, window_frames: int = 10
) -> float:
    """Fraction of atoms with ``coordination`` neighbours within ``cutoff_a`` in the positions averaged over the
    last ``window_frames`` frames.

    Why averaged positions: in a crystal, even a hot one with a migrating defect, time-averaged positions sit on
    lattice sites and nearly every atom keeps its ideal coordination (4 in diamond, minus the few defect
    neighbours); in a liquid, atoms travel Ångströms within the window and the averaged "structure" is
    disordered, so the fraction collapses. It thus separates melting from defect hopping without a lattice fit.
    """
    window = trajectory.positions_a[-max(1, window_frames) :]
    mean = window.mean(axis=0)
    counts = coordination_numbers(trajectory.atoms(positions_a=mean), cutoff_a)
    return float(np.mean(counts == coordination))


def nearest_site(positions_a: np.ndarray, sites_a: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest site (minimum image) of each position, and the distance to it (Å)."""
    _, dist = get_distances(positions_a, sites_a, cell=cell, pbc=True)
    index = np.argmin(dist, axis=1)
    return index, dist[np.arange(len(positions_a)), index]


def lammps_setup(
    calculator: Calculator | None, lammps_commands: list[str] | None = None, elements: list[str] | None = None
) -> tuple[list[str], list[str]] | None:
    """LAMMPS pair commands and element order for fast MD, or None when MD must go through ASE.

    Explicit ``lammps_commands`` win (the runner fills them from the model family); otherwise a LAMMPSlib
    calculator, possibly wrapped (``.inner``, as the runner's guard does), gives its own commands.
    """
    if lammps_commands:
        return list(lammps_commands), list(elements or [])
    calc = calculator
    for _ in range(5):  # unwrap guards/wrappers
        if calc is None or not hasattr(calc, "inner"):
            break
        calc = calc.inner
    params = getattr(calc, "parameters", None) or {}
    is_lammpslib = any(c.__name__ == "LAMMPSlib" for c in type(calc).__mro__)  # no import of ASE's lammpslib here
    commands = params.get("lmpcmds") if is_lammpslib else None
    if not commands:
        return None
    atom_types = params.get("atom_types") or {}
    return list(commands), sorted(atom_types, key=atom_types.get)


def md_engine(settings: MDSettings, calculator: Calculator | None) -> dict[str, Any]:
    """:func:`run_nvt`'s keyword arguments for a property's ``settings`` and the model's ``calculator``: LAMMPS
    when the engine allows it and pair commands are known (:func:`lammps_setup`), else ASE with the calculator.
    Temperatures, durations and seeds are per run: the caller adds them."""
    lammps = None if settings.engine == "ase" else lammps_setup(calculator, settings.lammps_commands, settings.elements)
    if settings.engine == "lammps" and lammps is None:
        raise InputError(None, "engine", "LAMMPS pair commands (lammps_commands) for engine 'lammps'")
    return {
        "timestep_fs": settings.timestep_fs,
        "sample_every_fs": settings.sample_every_fs,
        "calculator": calculator,
        "lammps_commands": lammps[0] if lammps else None,
        "elements": (lammps[1] or None) if lammps else None,
        "friction_per_fs": settings.friction_per_fs,
        "damping_steps": settings.damping_steps,
    }
