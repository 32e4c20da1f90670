"""POD (proper orthogonal descriptors, LAMMPS ML-POD): a linear model on two/three/four-body descriptors.

Two fitting paths give the same kind of model (``pair_style pod`` + ``pair_coeff * * <param> <coeff> Si``):

- :meth:`PODFamily.fit` (used for ensembles): descriptors from LAMMPS ``compute pod/global``, cached per
  (training set, descriptor hyperparameters) in :mod:`mlipscope.models.descriptors`; a fit is a ridge solve on the
  cached normal equations (milliseconds).
- :meth:`PODFamily.fit_fitpod`: LAMMPS ``fitpod`` on extxyz files, run as a subprocess of the ``lmp`` executable.
  ``fitpod`` recomputes all descriptors on every call (about 3 s for the 214 mlearn Si frames on one core), which is
  why ensembles use the cached path. The tests check that the cached descriptors reproduce fitpod's own training
  errors for fitpod's coefficients, so both paths agree on what the model is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlipscope._lammps import lammps_executable
from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import FitError, InputError
from mlipscope.models.base import FittedModel, Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.descriptors import LammpsRowsComputer, process_cache, setup_lammps_frame, voigt_to_ase
from mlipscope.models.fit_support import LammpsPairModelMixin, resolve_hyperparameters

RIN_A = 1.0  # inner cutoff: no Si-Si pair comes closer in any of our data
PARAM_FILE = "model_param.pod"
COEFF_FILE = "model_coefficients.pod"


class PodRowsComputer(LammpsRowsComputer):
    """``compute pod/global`` layout: row 0 global descriptors (one-body columns first), then 3N force rows.

    ``pod/global`` has no virial rows; :meth:`virial_rows` computes them exactly when ``local_commands`` (a
    ``compute pl all pod/local ...`` with the same parameter file) and the cutoff are given.
    """

    #: LAMMPS array size (MB) above which :meth:`virial_rows` splits the centres into smaller clusters
    MAX_LOCAL_ARRAY_MB = 256.0

    def __init__(
        self,
        species: list[str],
        commands: Callable[[], list[str]],
        compute_id: str,
        local_commands: Callable[[], list[str]] | None = None,
        cutoff_a: float | None = None,
    ) -> None:
        super().__init__(species, commands, compute_id)
        self.local_commands = local_commands
        self.cutoff_a = cutoff_a
        self._n_params: int | None = None  # columns of the pod/global rows, known after the first frame

    def split(self, atoms, array: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        self._n_params = array.shape[1]
        return array[0], array[1:], None

    def virial_rows(self, atoms: Atoms) -> np.ndarray:
        """(6, p) virial rows (eV per unit coefficient, ASE frame and Voigt order) of a frame, exact.

        ``pod/global`` folds the derivatives of periodic images onto their atoms, which loses the pair vectors a
        virial needs. So the frame's atoms (the centres) go into an open cluster together with every periodic
        image within the cutoff of a centre; ``pod/local`` gives each atom's descriptor derivatives with respect
        to every cluster atom, and W = sum_j x_j (x) R_j, with R_j the force rows of the centres' descriptors
        alone on cluster atom j (translation invariance makes the origin irrelevant; the buffer atoms' own,
        truncated descriptors are left out). Large clusters are split into smaller groups of centres.
        """
        if self.local_commands is None or self.cutoff_a is None:
            raise InputError(None, "local_commands", "a compute pod/local command and the cutoff for virial rows")
        if self._n_params is None:
            self(atoms)  # learns the number of columns (and starts LAMMPS)
        return self._virial_of_centres(atoms, np.arange(len(atoms)))

    def _virial_of_centres(self, atoms: Atoms, centres: np.ndarray) -> np.ndarray:
        from ase.neighborlist import neighbor_list

        n_types = len(self.species)
        width = self._n_params // n_types - 1  # per element: one-body column, then the per-atom descriptors
        i, j, shifts = neighbor_list("ijS", atoms, self.cutoff_a + 0.01)
        keep = np.isin(i, centres)
        images = {(int(a), tuple(int(v) for v in s)) for a, s in zip(j[keep], shifts[keep], strict=True)}
        buffer = sorted(images - {(int(c), (0, 0, 0)) for c in centres})
        positions = np.concatenate(
            [atoms.positions[centres]] + [(atoms.positions[a] + np.dot(s, atoms.cell.array))[None] for a, s in buffer]
        )
        n_cluster = len(positions)
        if (1 + 3 * n_cluster) * n_cluster * width * 8 / 1e6 > self.MAX_LOCAL_ARRAY_MB and len(centres) > 1:
            # two halves along the centres' widest spread, each with its own (smaller) buffer
            axis = int(np.argmax(np.ptp(atoms.positions[centres], axis=0)))
            order = centres[np.argsort(atoms.positions[centres, axis], kind="stable")]
            half = len(order) // 2
            return self._virial_of_centres(atoms, order[:half]) + self._virial_of_centres(atoms, order[half:])
        numbers = np.concatenate([atoms.numbers[centres], [atoms.numbers[a] for a, _ in buffer]]).astype(int)
        low = positions.min(axis=0) - 1.0
        cluster = Atoms(numbers, positions=positions - low, cell=np.diag(positions.max(axis=0) + 1.0 - low))
        prism = setup_lammps_frame(self._lmp, cluster, self.species, self.local_commands() + ["run 0"])
        array = self._lmp.numpy.extract_compute("pl", 0, 2)  # (1 + 3 n_cluster, n_cluster * width)
        if array.shape != (1 + 3 * n_cluster, n_cluster * width):
            raise RuntimeError(f"compute pod/local gave a {array.shape} array, not ({1 + 3 * n_cluster}, ...)")
        rows = np.asarray(array[1:]).reshape(n_cluster, 3, n_cluster, width)
        x = prism.vector_to_lammps(cluster.positions)
        types = np.array([self.species.index(s) for s in cluster.get_chemical_symbols()[: len(centres)]])
        virial = np.zeros((6, self._n_params))
        for t in range(n_types):
            mine = (types == t).astype(float)
            if mine.any():
                # (n_cluster, 3, width): force rows of this element's centres' descriptors (no copy of the array)
                r = np.einsum("jbcw,c->jbw", rows[:, :, : len(centres), :], mine)
                w = np.einsum("ja,jbw->abw", x, r)
                block = slice(t * (width + 1) + 1, (t + 1) * (width + 1))
                virial[:, block] = np.stack([w[0, 0], w[1, 1], w[2, 2], w[1, 2], w[0, 2], w[0, 1]])
        return voigt_to_ase(prism, virial)


class PODFamily(LammpsPairModelMixin, MLIPFamily):
    name = "pod"
    extra = "pod"
    pair_style = "pod"
    pair_files = (PARAM_FILE, COEFF_FILE)
    offers_batch_evaluation = True
    #: ``compute pod/global`` has no virial rows: they cost a ``pod/local`` pass (:meth:`PodRowsComputer.virial_rows`)
    separate_virial_rows = True

    def hyperparameter_space(self) -> HyperparameterSpace:
        h = Hyperparameter
        return HyperparameterSpace(
            (
                h("rcut", "linear", 5.0, low=4.0, high=5.5, description="outer cutoff, Å"),
                h("bessel_polynomial_degree", "int", 4, low=2, high=6),
                h("inverse_polynomial_degree", "int", 8, low=4, high=10),
                h("twobody_number_radial_basis_functions", "int", 8, low=4, high=10),
                h("threebody_number_radial_basis_functions", "int", 6, low=2, high=8),
                h("threebody_angular_degree", "int", 4, low=1, high=6),
                h("fourbody_number_radial_basis_functions", "int", 6, low=0, high=8),
                h("fourbody_angular_degree", "int", 3, low=0, high=4),
                h("energy_weight", "log", 10.0, low=0.1, high=1e4, description="weight of MSE(E/atom) vs MSE(F)"),
                h("ridge", "log", 1e-12, low=1e-13, high=1e-4, description="relative ridge"),
            )
        )

    @staticmethod
    def repair_hyperparameters(hp: dict[str, Any]) -> dict[str, Any]:
        """Make a sampled point valid for ML-POD: each body order uses no more radial/angular functions than
        the one below it (the KL basis is shared), and a four-body term needs both of its counts non-zero."""
        hp = dict(hp)
        n2 = int(hp["twobody_number_radial_basis_functions"])
        n3 = min(int(hp["threebody_number_radial_basis_functions"]), n2)
        n4 = min(int(hp["fourbody_number_radial_basis_functions"]), n3)
        a3 = int(hp["threebody_angular_degree"])
        a4 = min(int(hp["fourbody_angular_degree"]), a3)
        if n4 == 0 or a4 == 0:
            n4 = a4 = 0
        hp.update(
            threebody_number_radial_basis_functions=n3,
            fourbody_number_radial_basis_functions=n4,
            fourbody_angular_degree=a4,
        )
        return hp

    def check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        # check_values=False: the four-body counts may be 0 (no four-body term; the space's lower bound), which
        # the value check rejects as non-positive; the repair makes any given point valid for ML-POD.
        hp = resolve_hyperparameters(self.hyperparameter_space(), hyperparameters, check_values=False)
        return self.repair_hyperparameters(hp)

    # --- files -------------------------------------------------------------------------------------------------
    @staticmethod
    def param_text(species: list[str], hp: dict[str, Any]) -> str:
        keys = [
            "bessel_polynomial_degree",
            "inverse_polynomial_degree",
            "twobody_number_radial_basis_functions",
            "threebody_number_radial_basis_functions",
            "threebody_angular_degree",
            "fourbody_number_radial_basis_functions",
            "fourbody_angular_degree",
        ]
        lines = [f"species {' '.join(species)}", "pbc 1 1 1", f"rin {RIN_A}", f"rcut {float(hp['rcut'])!r}"]
        lines += [f"{k} {int(hp[k])}" for k in keys]
        return "\n".join(lines) + "\n"

    @staticmethod
    def write_coefficients(path: Path, beta: np.ndarray) -> None:
        body = "\n".join(repr(float(b)) for b in beta)
        path.write_text(f"model_coefficients: {len(beta)} 0 0\n{body}\n")

    @staticmethod
    def read_coefficients(model_dir: Path) -> np.ndarray:
        """The coefficient vector of a fitted model (``pair_style pod`` reads the same file; columns of the
        ``compute pod/global`` rows)."""
        path = Path(model_dir) / COEFF_FILE
        header, _, body = path.read_text().partition("\n")
        if not header.startswith("model_coefficients:"):
            raise InputError(path, "header", "'model_coefficients: <n> ...' then one coefficient per line")
        n = int(header.split()[1])
        beta = np.array([float(v) for v in body.split()])
        if len(beta) != n:
            raise InputError(path, "coefficients", f"{n} values", got=len(beta))
        return beta

    # --- cached-descriptor fit ---------------------------------------------------------------------------------
    def descriptor_key(self, species: list[str], hp: dict[str, Any]) -> dict:
        """What the descriptors depend on (the descriptor cache key)."""
        return {"kind": "pod", "species": species, "rin": RIN_A, **{k: hp[k] for k in self.descriptor_names()}}

    def rows_computer(self, species: list[str], hp: dict[str, Any], work_dir: Path) -> PodRowsComputer:
        """Per-frame descriptor rows for ``species`` (type order) and resolved hyperparameters ``hp`` (the
        parameter file is written into ``work_dir``, which must outlive the computer); exact virial rows on
        request (:meth:`PodRowsComputer.virial_rows`)."""
        param = Path(work_dir) / PARAM_FILE
        param.write_text(self.param_text(species, hp))
        head = [f"pair_style zero {float(hp['rcut']) + 0.01!r}", "pair_coeff * *"]
        elements = " ".join(species)
        commands = head + [f'compute gd all pod/global {param} "" {elements}']
        local = head + [f'compute pl all pod/local {param} "" {elements}']
        return PodRowsComputer(species, lambda: commands, "gd", lambda: local, cutoff_a=float(hp["rcut"]))

    def linear_system(self, dataset: Dataset, hp: dict[str, Any], work_dir: Path):
        species = dataset.species
        computer = self.rows_computer(species, hp, work_dir)
        try:
            return process_cache().get(dataset, self.descriptor_key(species, hp), computer, len(species))
        finally:
            computer.close()

    def descriptor_names(self) -> list[str]:
        return [n for n in self.hyperparameter_space().names if n not in ("energy_weight", "ridge")]

    def descriptor_hyperparameters(self) -> tuple[str, ...]:
        return tuple(self.descriptor_names())

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        """Ridge least squares on cached ``compute pod/global`` descriptors (deterministic; seed recorded)."""
        system = self.linear_system(dataset, hp, model_dir)
        beta, metrics = system.solve(float(hp["energy_weight"]), 1.0, 0.0, float(hp["ridge"]))
        self.write_coefficients(model_dir / COEFF_FILE, beta)
        return self._trained(dataset, model_dir, metrics, solver="cached-lstsq")

    @staticmethod
    def _trained(dataset: Dataset, model_dir: Path, metrics: dict[str, float], solver: str) -> Trained:
        files = [model_dir / PARAM_FILE, model_dir / COEFF_FILE]
        return Trained(files, metrics, {"species": dataset.species, "solver": solver})

    # --- LAMMPS fitpod -----------------------------------------------------------------------------------------
    def fit_fitpod(
        self, dataset: Dataset, hyperparameters: dict[str, Any], seed: int, model_dir: Path, timeout_s: float = 600
    ) -> FittedModel:
        """Fit with LAMMPS ``fitpod`` (``energy_weight``/``ridge`` passed as fitpod's own weight/regularisation):
        the same template as :meth:`fit` with fitpod as the training."""
        return FitpodPODFamily(timeout_s).fit(dataset, hyperparameters, seed, model_dir)

    def _train_fitpod(self, dataset: Dataset, hp: dict[str, Any], model_dir: Path, timeout_s: float) -> Trained:
        from ase.io import write

        model_dir = Path(model_dir).resolve()  # fitpod runs in model_dir and reads the data path from its input
        xyz_dir = model_dir / "fitpod_data"
        xyz_dir.mkdir(parents=True, exist_ok=True)
        frames = []
        for atoms in dataset.frames:
            copy = atoms.copy()
            copy.info = {}  # fitpod's extxyz reader matches 'energy' anywhere in a key (e.g. 'dft_energy')
            for key in list(copy.arrays):
                if key not in ("numbers", "positions"):
                    del copy.arrays[key]
            copy.calc = SinglePointCalculator(
                copy, energy=float(atoms.info[ENERGY_KEY]), forces=np.asarray(atoms.arrays[FORCES_KEY])
            )
            frames.append(copy)
        write(xyz_dir / "train.xyz", frames, format="extxyz")
        (model_dir / PARAM_FILE).write_text(self.param_text(dataset.species, hp))
        (model_dir / "fitpod_data.pod").write_text(self._fitpod_input(xyz_dir, hp))
        self._run_fitpod(model_dir, timeout_s)
        metrics = self.read_fitpod_errors(model_dir / "fitpod_training_errors.pod")
        return self._trained(dataset, model_dir, metrics, solver="fitpod")

    @staticmethod
    def _fitpod_input(xyz_dir: Path, hp: dict[str, Any]) -> str:
        lines = [
            "file_format extxyz",
            "file_extension xyz",
            f'path_to_training_data_set "{xyz_dir}"',
            f"fitting_weight_energy {float(hp['energy_weight'])!r}",
            "fitting_weight_force 1.0",
            f"fitting_regularization_parameter {float(hp['ridge'])!r}",
            "randomize_training_data_set 0",
            "error_analysis_for_training_data_set 1",
            "basename_for_output_files fitpod",
            "precision_for_pod_coefficients 12",
        ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _run_fitpod(model_dir: Path, timeout_s: float) -> None:
        """``lmp`` running ``fitpod`` in ``model_dir``; leaves the coefficients in :data:`COEFF_FILE`."""
        env = dict(os.environ)
        # the wheel's lmp links libmpi from the mpich wheel in <venv>/lib
        env["LD_LIBRARY_PATH"] = os.pathsep.join([str(Path(sys.prefix) / "lib"), env.get("LD_LIBRARY_PATH", "")])
        env["OMP_NUM_THREADS"] = "1"
        cmd = [str(lammps_executable()), "-nocite", "-log", "none", "-screen", "fitpod.log"]
        try:
            proc = subprocess.run(
                cmd,
                input=f"fitpod {PARAM_FILE} fitpod_data.pod\n",
                cwd=model_dir,
                env=env,
                text=True,
                capture_output=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise FitError(f"fitpod did not finish within {timeout_s} s") from None
        coeff = model_dir / "fitpod_coefficients.pod"
        if proc.returncode != 0 or not coeff.is_file():
            log = (model_dir / "fitpod.log").read_text()[-800:] if (model_dir / "fitpod.log").is_file() else ""
            raise FitError(f"fitpod failed (exit {proc.returncode}): {(proc.stderr or log).strip()[-800:]}")
        coeff.replace(model_dir / COEFF_FILE)

    @staticmethod
    def read_fitpod_errors(path: Path) -> dict[str, float]:
        """Training RMSEs from fitpod's ``*_training_errors.pod`` (row 'All files': MAE/RMSE energy, force)."""
        for line in path.read_text().splitlines():
            if line.startswith("All files"):
                values = [float(v) for v in line.split()[2:]]
                # columns: n_configs n_atoms MAE_E RMSE_E MAE_F RMSE_F
                return {"train_energy_rmse_ev_per_atom": values[3], "train_force_rmse_ev_a": values[5]}
        raise FitError(f"no 'All files' row in {path}")


class FitpodPODFamily(PODFamily):
    """POD trained by LAMMPS ``fitpod`` instead of the cached-descriptor solve (:meth:`PODFamily.fit_fitpod`): the
    same family name, files and model.json (``solver: fitpod``)."""

    def __init__(self, timeout_s: float = 600) -> None:
        self.timeout_s = timeout_s

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        return self._train_fitpod(dataset, hp, model_dir, self.timeout_s)
