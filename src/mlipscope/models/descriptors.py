"""Shared LAMMPS descriptor cache for linear MLIPs (SNAP/qSNAP, POD).

Linear models predict energy, forces and virial as ``A @ beta``, so a fit only needs the rows of ``A`` for the
training set. Computing them (LAMMPS ``compute snap`` / ``compute pod/global``) is the expensive part; a fit with
other weights or regularisation only needs the *normal equations* of each block (energy, force, stress). We store,
per (training-set content hash, descriptor settings):

- the energy block in full (one row per frame, per atom), so per-frame energy weights stay possible;
- the Gram matrix ``A^T A``, ``A^T b``, ``b^T b`` and row count of the force and stress blocks, accumulated frame by
  frame so the (3N x p) force matrix is never held in memory.

A member's fit is then a weighted sum of a few p x p matrices and one Cholesky solve: milliseconds.
The cache lives in memory and on disk (npz) so separate processes / Dask workers share it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg
from ase import Atoms
from ase.calculators.lammps import Prism
from ase.data import atomic_masses, atomic_numbers

from mlipscope._lammps import new_lammps
from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import FitError, InputError
from mlipscope.units import EV_PER_A3_TO_GPA

CACHE_ENV = "MLIPSCOPE_CACHE_DIR"

#: rows for one frame, intercept columns (atom counts per species) first: (energy row (p,),
#: force rows (3N, p) in the ASE frame, virial rows (6, p) in ASE Voigt order or None)
FrameRows = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "mlipscope" / "descriptors"))


def setup_lammps_frame(lmp, atoms: Atoms, species: list[str], pair_commands: list[str]) -> Prism:
    """Clear ``lmp`` and load ``atoms`` (types in ``species`` order) with the given pair/compute commands."""
    if not np.all(atoms.pbc) and atoms.cell.rank < 3:
        raise InputError(None, "cell", "a full 3x3 cell (LAMMPS needs a box even for non-periodic frames)")
    prism = Prism(atoms.cell.array, atoms.pbc)
    xhi, yhi, zhi, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
    boundary = " ".join("p" if p else "f" for p in atoms.pbc)
    lmp.command("clear")
    lmp.commands_list(
        [
            "units metal",
            "atom_style atomic",
            "atom_modify map array sort 0 0",
            f"boundary {boundary}",
            f"region box prism 0 {xhi!r} 0 {yhi!r} 0 {zhi!r} {xy!r} {xz!r} {yz!r} units box",
            f"create_box {len(species)} box",
        ]
        + [f"mass {i + 1} {float(atomic_masses[atomic_numbers[s]])!r}" for i, s in enumerate(species)]
    )
    type_of = {s: i + 1 for i, s in enumerate(species)}
    n_atoms = len(atoms)
    positions = prism.vector_to_lammps(atoms.positions, wrap=True)
    lmp.create_atoms(
        n_atoms,
        list(range(1, n_atoms + 1)),
        [type_of[s] for s in atoms.get_chemical_symbols()],
        positions.ravel().tolist(),
    )
    lmp.commands_list(pair_commands)
    return prism


def voigt_to_ase(prism: Prism, voigt_rows: np.ndarray) -> np.ndarray:
    """Rotate (6, p) LAMMPS Voigt rows (xx yy zz yz xz xy) back into the ASE frame."""
    xx, yy, zz, yz, xz, xy = voigt_rows
    tensors = np.stack([np.stack([xx, xy, xz]), np.stack([xy, yy, yz]), np.stack([xz, yz, zz])])  # (3, 3, p)
    rot = prism.rot_mat
    t = np.einsum("ia,abp,jb->ijp", rot, tensors, rot)
    return np.stack([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]])


@dataclass
class LinearSystem:
    """Normal-equation blocks of a linear model on one training set.

    The first ``n_intercepts`` columns are per-species atom counts (their coefficients are reference energies per
    atom, left out of the ridge penalty).
    """

    n_intercepts: int
    energy_a: np.ndarray  # (n_frames, p): descriptor sums per atom
    energy_b: np.ndarray  # (n_frames,): DFT energy per atom, eV/atom
    n_atoms: np.ndarray  # (n_frames,)
    force_gram: np.ndarray  # (p, p)
    force_atb: np.ndarray  # (p,)
    force_btb: float
    force_n: int
    stress_gram: np.ndarray  # (p, p), stress rows in GPa
    stress_atb: np.ndarray
    stress_btb: float
    stress_n: int

    @property
    def n_params(self) -> int:
        return self.energy_a.shape[1]

    def solve(
        self, energy_weight: float, force_weight: float, stress_weight: float, ridge: float
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Coefficients minimising w_e*MSE_E/atom + w_f*MSE_F + w_s*MSE_stress[GPa] + ridge*tr(G)/p*|beta|^2.

        Each block enters as a *mean* square error, so weights do not depend on the training-set size; the
        ridge term is scaled by the mean diagonal of the normal matrix so it is dimensionless. Raises FitError
        when the system is singular or the solution is not finite.
        """
        n_e = len(self.energy_b)
        gram = energy_weight / n_e * (self.energy_a.T @ self.energy_a)
        rhs = energy_weight / n_e * (self.energy_a.T @ self.energy_b)
        gram = gram + force_weight / max(self.force_n, 1) * self.force_gram
        rhs = rhs + force_weight / max(self.force_n, 1) * self.force_atb
        if self.stress_n and stress_weight > 0:
            gram = gram + stress_weight / self.stress_n * self.stress_gram
            rhs = rhs + stress_weight / self.stress_n * self.stress_atb
        penalty = np.ones(self.n_params)
        penalty[: self.n_intercepts] = 0.0
        gram = gram + np.diag(penalty * ridge * np.trace(gram) / self.n_params)
        try:
            factor = scipy.linalg.cho_factor(gram, check_finite=True)
            beta = scipy.linalg.cho_solve(factor, rhs)
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise FitError(f"singular normal equations ({exc}); increase ridge") from None
        if not np.all(np.isfinite(beta)):
            raise FitError("non-finite coefficients")
        return beta, self.rmse(beta)

    def rmse(self, beta: np.ndarray) -> dict[str, float]:
        """Training RMSEs of coefficients ``beta`` from the stored blocks (no descriptor recomputation)."""

        def block(gram: np.ndarray, atb: np.ndarray, btb: float, n: int) -> float:
            sse = float(beta @ gram @ beta - 2.0 * beta @ atb + btb)
            return math.sqrt(max(sse, 0.0) / n)

        metrics = {
            "train_energy_rmse_ev_per_atom": float(np.sqrt(np.mean((self.energy_a @ beta - self.energy_b) ** 2))),
            "train_force_rmse_ev_a": block(self.force_gram, self.force_atb, self.force_btb, self.force_n),
        }
        if self.stress_n:
            metrics["train_stress_rmse_gpa"] = block(self.stress_gram, self.stress_atb, self.stress_btb, self.stress_n)
        return metrics

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{k: np.asarray(v) for k, v in self.__dict__.items()})
        tmp.replace(path)  # atomic: concurrent workers never read a half-written file

    @classmethod
    def load(cls, path: Path) -> LinearSystem:
        with np.load(path) as data:
            values = {k: data[k] for k in data.files}
        for k in ("force_btb", "stress_btb"):
            values[k] = float(values[k])
        for k in ("force_n", "stress_n", "n_intercepts"):
            values[k] = int(values[k])
        return cls(**values)


def build_linear_system(
    dataset: Dataset, frame_rows: Callable[[Atoms], FrameRows], n_intercepts: int, progress: bool = True
) -> LinearSystem:
    """Accumulate the normal equations of ``dataset`` from per-frame descriptor rows."""
    energy_a, energy_b, n_atoms = [], [], []
    force_gram = force_atb = stress_gram = stress_atb = None
    force_btb = stress_btb = 0.0
    force_n = stress_n = 0
    iterator = enumerate(dataset.frames)
    if progress and len(dataset) > 20:
        from rich.progress import track

        iterator = track(iterator, total=len(dataset), description=f"descriptors {dataset.name}", transient=True)
    for index, atoms in iterator:
        try:
            energy_ev = float(atoms.info[ENERGY_KEY])
            forces = np.asarray(atoms.arrays[FORCES_KEY], dtype=float).reshape(-1)
        except KeyError as exc:
            raise InputError(dataset.path or dataset.name, str(exc.args[0]), "DFT labels", frame=index) from None
        e_row, f_rows, v_rows = frame_rows(atoms)
        n = len(atoms)
        energy_a.append(e_row / n)
        energy_b.append(energy_ev / n)
        n_atoms.append(n)
        f_a = f_rows
        if force_gram is None:
            p = f_a.shape[1]
            force_gram, force_atb = np.zeros((p, p)), np.zeros(p)
            stress_gram, stress_atb = np.zeros((p, p)), np.zeros(p)
        force_gram += f_a.T @ f_a
        force_atb += f_a.T @ forces
        force_btb += float(forces @ forces)
        force_n += forces.size
        stress = atoms.info.get(STRESS_KEY)
        if stress is not None and v_rows is not None and all(atoms.pbc):
            # ASE stress (tension positive) = -virial / volume; rows and labels in GPa
            s_a = -v_rows / atoms.get_volume() * EV_PER_A3_TO_GPA
            s_b = np.asarray(stress, dtype=float).reshape(6) * EV_PER_A3_TO_GPA
            stress_gram += s_a.T @ s_a
            stress_atb += s_a.T @ s_b
            stress_btb += float(s_b @ s_b)
            stress_n += 6
    if force_gram is None:
        raise InputError(dataset.path or dataset.name, "frames", "at least one labelled frame")
    return LinearSystem(
        n_intercepts=n_intercepts,
        energy_a=np.array(energy_a),
        energy_b=np.array(energy_b),
        n_atoms=np.array(n_atoms),
        force_gram=force_gram,
        force_atb=force_atb,
        force_btb=force_btb,
        force_n=force_n,
        stress_gram=stress_gram,
        stress_atb=stress_atb,
        stress_btb=stress_btb,
        stress_n=stress_n,
    )


class DescriptorCache:
    """Linear systems keyed by (training-set hash, descriptor key), in memory and as npz files in ``cache_dir``."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._memory: dict[str, LinearSystem] = {}
        self.n_computed = 0  # how many systems this cache had to compute (tests and benchmarks read it)

    @staticmethod
    def key(dataset_hash: str, descriptor_key: dict) -> str:
        blob = json.dumps({"data": dataset_hash, "descriptor": descriptor_key}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]

    def get(
        self,
        dataset: Dataset,
        descriptor_key: dict,
        frame_rows: Callable[[Atoms], FrameRows],
        n_intercepts: int,
    ) -> LinearSystem:
        key = self.key(dataset.content_hash, descriptor_key)
        if key in self._memory:
            return self._memory[key]
        path = self.cache_dir / f"{descriptor_key.get('kind', 'desc')}_{key}.npz"
        if path.is_file():
            try:
                system = LinearSystem.load(path)
            except (OSError, ValueError, KeyError):
                system = None  # a corrupt file is recomputed, not trusted
            if system is not None:
                self._memory[key] = system
                return system
        system = build_linear_system(dataset, frame_rows, n_intercepts)
        self.n_computed += 1
        with contextlib.suppress(OSError):  # a read-only cache dir only costs recomputation
            system.save(path)
        self._memory[key] = system
        return system


@functools.cache
def shared_cache(cache_dir: str | None = None) -> DescriptorCache:
    """One DescriptorCache per process and directory (created on first use, not at import)."""
    return DescriptorCache(Path(cache_dir) if cache_dir else default_cache_dir())


def process_cache() -> DescriptorCache:
    """The cache for the directory currently named by $MLIPSCOPE_CACHE_DIR (or the default)."""
    return shared_cache(str(default_cache_dir()))


class LammpsRowsComputer:
    """Per-frame descriptor rows from a LAMMPS global-array compute, with one reusable LAMMPS instance.

    The default layout is that of ``compute snap``: row 0 the per-type descriptor sums, then 3N force rows, then 6
    virial rows, and a last column holding the reference-potential energy. Subclasses override :meth:`split`.
    """

    def __init__(self, species: list[str], commands: Callable[[], list[str]], compute_id: str) -> None:
        self.species = species
        self.commands = commands
        self.compute_id = compute_id
        self._lmp = None

    def split(self, atoms: Atoms, array: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(energy row with intercept columns, force rows (3N, p) and virial rows (6, p) in the LAMMPS frame)."""
        n = len(atoms)
        rows = array[:, :-1]
        symbols = atoms.get_chemical_symbols()
        counts = np.array([symbols.count(s) for s in self.species], dtype=float)
        n_int = len(self.species)
        return (
            np.concatenate([counts, rows[0]]),
            np.hstack([np.zeros((3 * n, n_int)), rows[1 : 1 + 3 * n]]),
            np.hstack([np.zeros((6, n_int)), rows[1 + 3 * n : 7 + 3 * n]]),
        )

    def __call__(self, atoms: Atoms) -> FrameRows:
        if self._lmp is None:
            self._lmp = new_lammps()
        unknown = set(atoms.get_chemical_symbols()) - set(self.species)
        if unknown:
            raise InputError(None, "species", f"only {self.species}", got=sorted(unknown))
        prism = setup_lammps_frame(self._lmp, atoms, self.species, self.commands() + ["run 0"])
        array = np.array(self._lmp.numpy.extract_compute(self.compute_id, 0, 2), dtype=float)
        energy_row, force_rows, virial_rows = self.split(atoms, array)
        n = len(atoms)
        # rotate each atom's (3, p) block from the LAMMPS frame back to the ASE frame
        force_rows = np.einsum("ij,njp->nip", prism.rot_mat, force_rows.reshape(n, 3, -1)).reshape(3 * n, -1)
        if virial_rows is not None:
            virial_rows = voigt_to_ase(prism, virial_rows)
        return energy_row, force_rows, virial_rows

    def close(self) -> None:
        if self._lmp is not None:
            self._lmp.close()
            self._lmp = None
