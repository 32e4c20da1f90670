"""Energy, force and stress errors of a model on a labelled DFT dataset (overall and per ``config_type``).

Keys (all of them are errors against the dataset's DFT labels, so all are ``error_metrics``):

- ``energy_{rmse,mae}_mev_atom``: total energy per atom, meV/atom (raw: the model's energy zero must be the
  dataset's, true for models fitted to the same DFT data);
- ``energy_offset_removed_{rmse,mae}_mev_atom``: the same after removing one constant per atom, the mean
  model−DFT energy difference per atom over the whole dataset (``details["energy_offset_ev_atom"]``): the errors of
  an external potential (SW, a foundation model) whose energy zero differs from the DFT one. The analysis uses
  both as separate properties; the raw one is the seed study's energy RMSE;
- ``force_{rmse,mae}_ev_a``: force components, eV/Å (every x, y, z component of every atom counts once);
- ``stress_{rmse,mae}_gpa``: stress components (6 Voigt components per frame), GPa; only when the dataset has
  stress labels;
- ``failed_frame_fraction``: frames whose evaluation raised or gave non-finite output (reference 0);
- the same metrics per config type as ``<metric>.<config_type>``, e.g. ``energy_rmse_mev_atom.aimd_nvt``, with
  the config type lower-cased and reduced to ``[a-z0-9_]`` (:func:`sanitize_config_type`).

The dataset is named by a path or a shipped example name and loaded on first use in each process (the property
itself stays small and picklable); a :class:`Dataset` object is accepted too.

``details["frames"]``: the model's error on every frame it predicted (energy per atom, every force component,
stress), rounded and compact (:mod:`mlipscope.properties.frame_data`; the DFT labels stay in the dataset), for the
ensemble uncertainty analysis and :func:`parity_figure`. The values are computed from the unrounded predictions.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.frame_data import HASH_CHARS, FrameErrors, dataset_locator, frame_predictions
from mlipscope.properties.frames import predict_frames
from mlipscope.properties.registry import SuiteEntry
from mlipscope.units import EV_PER_A3_TO_GPA

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_UNITS = {"energy": "meV/atom", "force": "eV/Å", "stress": "GPa"}
_SUFFIX = {"energy": "mev_atom", "energy_offset_removed": "mev_atom", "force": "ev_a", "stress": "gpa"}


def sanitize_config_type(config_type: str) -> str:
    """``"AIMD-NVT"`` -> ``"aimd_nvt"``: lower case, runs of other characters replaced by one underscore."""
    clean = re.sub(r"[^a-z0-9]+", "_", str(config_type).lower()).strip("_")
    return clean or "unnamed"


@functools.lru_cache(maxsize=8)
def _load_cached(spec: str, mtime_ns: int) -> Dataset:
    # mtime in the key: a file rewritten in the same process is read again
    from mlipscope.data.loader import read_dataset

    path = Path(spec)
    if path.is_file():
        return read_dataset(path)
    from mlipscope.data.examples import load_example

    return load_example(spec)


def load_dataset(spec: Dataset | str | Path) -> Dataset:
    """A Dataset from a Dataset, a file path or a shipped example name (cached per process for names/paths)."""
    if isinstance(spec, Dataset):
        return spec
    path = Path(spec)
    if path.is_file():
        return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)
    from mlipscope.data.examples import EXAMPLES

    if str(spec) not in EXAMPLES:
        raise InputError(
            None, "dataset", f"an existing dataset file or one of the shipped datasets {sorted(EXAMPLES)}", got=spec
        )
    return _load_cached(str(spec), 0)


def dataset_path(spec: Dataset | str | Path) -> str | None:
    """The file a dataset spec names (a path, or a shipped example's file); None for in-memory datasets."""
    if isinstance(spec, Dataset):
        return str(spec.path) if spec.path else None
    if Path(spec).is_file():
        return str(Path(spec).resolve())
    from mlipscope.data.examples import EXAMPLES, example_path

    return str(example_path(str(spec))) if str(spec) in EXAMPLES else None


class DatasetErrors(Property):
    """RMSE and MAE of energies, forces and stresses of a model on a labelled dataset.

    ``dataset``: a :class:`Dataset`, a file path, or a shipped example name (``"si_mlearn_test"``).
    ``per_config_type``: also report every metric per config type. ``progress``: show a progress bar.
    """

    name = "dataset_errors"
    suite_order = 10

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``errors_<name>`` per test and validation set of the material."""
        return [
            cls.suite_entry(f"errors_{name}", dataset=spec)
            for role in ("test", "validation")
            for name, spec in material.datasets.get(role, {}).items()
        ]

    def __init__(
        self,
        dataset: Dataset | str | Path = "si_mlearn_test",
        *,
        per_config_type: bool = True,
        progress: bool = False,
        label: str | None = None,
        material=None,
    ) -> None:
        super().__init__(label, material=material)
        self.dataset = dataset if isinstance(dataset, Dataset) else str(dataset)
        self.per_config_type = per_config_type
        self.progress = progress

    def input_paths(self) -> list[str]:
        return super().input_paths() + [p for p in [dataset_path(self.dataset)] if p]

    def validate_inputs(self) -> None:
        load_dataset(self.dataset)

    def config(self) -> dict[str, Any]:
        out = super().config()
        if isinstance(self.dataset, Dataset):
            out["dataset"] = f"{self.dataset.name} (sha256 {self.dataset.content_hash[:12]})"
        return out

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        data = load_dataset(self.dataset)
        want_stress = [STRESS_KEY in atoms.info for atoms in data.frames]
        predictions = predict_frames(
            calculator, data.frames, stress=want_stress, label=self.label, show_bar=self.progress
        )
        frames, failures = [], []
        for index, (atoms, predicted) in enumerate(zip(data.frames, predictions, strict=True)):
            if isinstance(predicted, Exception):  # a model failing on a frame is data, not a crash
                failures.append(frame_failure(index, predicted))
                continue
            energy, forces, stress = predicted.energy_ev, predicted.forces_ev_a, predicted.stress_ev_a3
            try:
                frames.append(frame_prediction(index, atoms, energy, forces, stress))
            except EvaluationError as exc:  # non-finite output on this frame
                failures.append(frame_failure(index, exc))
        return self.result_from_frames(data, frames, failures)

    def result_from_frames(
        self,
        data: Dataset,
        frames: list[dict[str, Any]],
        failures: list[dict[str, Any]],
        errors: list[tuple[float, np.ndarray, np.ndarray | None]] | None = None,
    ) -> PropertyResult:
        """The result from per-frame predictions (:func:`frame_prediction` records) and failures
        (:func:`frame_failure` records) on ``data``; shared by :meth:`compute` and the batched evaluation of
        linear models (:mod:`mlipscope.models.linear_batch`). ``errors``: the frames' :func:`frame_errors`
        when the caller has them as arrays (else they are taken from the records' lists). Raises EvaluationError
        when no frame worked."""
        if not frames:
            first = failures[0]["reason"] if failures else "empty dataset"
            raise EvaluationError(f"{self.label}: the model failed on all {len(data)} frames (first: {first})")

        values: dict[str, float] = {"failed_frame_fraction": len(failures) / len(data)}
        units: dict[str, str] = {"failed_frame_fraction": "1"}
        has_stress = any(STRESS_KEY in a.info for a in data.frames)
        if errors is None:  # once per frame, not once per group
            errors = [frame_errors(f) for f in frames]
        groups: dict[str, list[tuple]] = {"": errors}
        if self.per_config_type:
            for frame, error in zip(frames, errors, strict=True):
                groups.setdefault("." + sanitize_config_type(frame["config_type"]), []).append(error)
        offset_ev_atom = float(np.mean([f["energy_model_ev_atom"] - f["energy_dft_ev_atom"] for f in frames]))
        for suffix, group in groups.items():
            for key, value in _metrics(group, has_stress, offset_ev_atom).items():
                values[key + suffix] = value
                units[key + suffix] = _UNITS[key.split("_", 1)[0]]
        stored = FrameErrors.from_records(frames, dataset_locator(self.dataset, data), data.content_hash[:HASH_CHARS])
        details = {
            "dataset": data.name,
            "n_frames": len(data),
            "n_failed": len(failures),
            "energy_offset_ev_atom": offset_ev_atom,
            "failures": failures,
            "frames": stored.to_details(),  # errors only, forces to 0.001 eV/Å: mlipscope.properties.frame_data
        }
        return self.result(values, units, error_metrics=set(values), details=details)


def frame_failure(index: int, exc: BaseException) -> dict[str, Any]:
    """The record of a frame the model failed on (kept in ``details["failures"]``)."""
    return {"index": index, "reason": f"{type(exc).__name__}: {exc}"[:300]}


def frame_prediction(
    index: int, atoms: Atoms, energy_ev: float, forces_ev_a: np.ndarray, stress_ev_a3: np.ndarray | None
) -> dict[str, Any]:
    """The record of one frame: the model's energy (eV), forces (eV/Å, (n_atoms, 3)) and stress (eV/Å³, ASE
    Voigt order, tension positive; None when the model gives none) next to the frame's DFT labels. Raises
    EvaluationError on non-finite energy or forces; a non-finite stress is left out (stress metrics skip it)."""
    n_atoms = len(atoms)
    energy = float(energy_ev)
    forces = np.asarray(forces_ev_a, dtype=float)
    if not math.isfinite(energy) or not np.isfinite(forces).all():
        raise EvaluationError("non-finite energy or forces")
    frame: dict[str, Any] = {
        "index": index,
        "config_type": str(atoms.info.get("config_type", "default")),
        "n_atoms": n_atoms,
        "energy_dft_ev_atom": float(atoms.info[ENERGY_KEY]) / n_atoms,
        "energy_model_ev_atom": energy / n_atoms,
        "forces_dft_ev_a": np.asarray(atoms.arrays[FORCES_KEY], dtype=float).ravel().tolist(),
        "forces_model_ev_a": forces.ravel().tolist(),
    }
    if STRESS_KEY in atoms.info and stress_ev_a3 is not None:
        stress = np.asarray(stress_ev_a3, dtype=float) * EV_PER_A3_TO_GPA
        if np.isfinite(stress).all():
            frame["stress_dft_gpa"] = (np.asarray(atoms.info[STRESS_KEY], dtype=float) * EV_PER_A3_TO_GPA).tolist()
            frame["stress_model_gpa"] = stress.tolist()
    return frame


def _rmse_mae(errors: np.ndarray) -> tuple[float, float]:
    if errors.size == 0:
        return math.nan, math.nan
    return float(np.sqrt(np.mean(errors**2))), float(np.mean(np.abs(errors)))


def frame_errors(
    frame: dict[str, Any], forces_model_ev_a: np.ndarray | None = None, forces_dft_ev_a: np.ndarray | None = None
) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(energy error eV/atom, force component errors eV/Å (flat), stress errors GPa or None) of a
    :func:`frame_prediction` record; the forces may be given as arrays equal to the record's lists (faster)."""
    stress = None
    if "stress_dft_gpa" in frame:
        stress = np.subtract(frame["stress_model_gpa"], frame["stress_dft_gpa"])
    f_model = frame["forces_model_ev_a"] if forces_model_ev_a is None else np.ravel(forces_model_ev_a)
    f_dft = frame["forces_dft_ev_a"] if forces_dft_ev_a is None else np.ravel(forces_dft_ev_a)
    return frame["energy_model_ev_atom"] - frame["energy_dft_ev_atom"], np.subtract(f_model, f_dft), stress


def _metrics(
    frame_errors: list[tuple[float, np.ndarray, np.ndarray | None]], has_stress: bool, offset_ev_atom: float = 0.0
) -> dict[str, float]:
    e_err = np.array([e for e, _, _ in frame_errors]) * 1000.0
    f_err = np.concatenate([f for _, f, _ in frame_errors])
    errors = {"energy": e_err, "energy_offset_removed": e_err - 1000.0 * offset_ev_atom, "force": f_err}
    if has_stress:
        stress = [s for _, _, s in frame_errors if s is not None]
        errors["stress"] = np.concatenate(stress) if stress else np.empty(0)
    out = {}
    for kind, err in errors.items():
        rmse, mae = _rmse_mae(err)
        out[f"{kind}_rmse_{_SUFFIX[kind]}"] = rmse
        out[f"{kind}_mae_{_SUFFIX[kind]}"] = mae
    return out


def parity_figure(
    results: PropertyResult | dict[str, PropertyResult], path: str | Path | None = None, dataset: Dataset | None = None
) -> Figure:
    """Energy (meV/atom scale, per atom) and force-component parity plots, coloured by config type.

    ``results``: one :class:`DatasetErrors` result, or several keyed by a legend label (e.g. model names), in which
    case colours mark the models. The stored frames are errors: the DFT labels come from ``dataset``, or from the
    dataset the frames name. Saved to ``path`` when given.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    if isinstance(results, PropertyResult):
        series = _series_by_config_type(results, dataset)
    else:
        series = {name: frame_predictions(r.details, dataset) for name, r in results.items()}
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax_e, ax_f = fig.subplots(1, 2)
    for name, frames in series.items():
        ax_e.scatter(
            [f["energy_dft_ev_atom"] for f in frames], [f["energy_model_ev_atom"] for f in frames], s=12, label=name
        )
        f_dft = np.concatenate([f["forces_dft_ev_a"] for f in frames])
        f_model = np.concatenate([f["forces_model_ev_a"] for f in frames])
        ax_f.scatter(f_dft, f_model, s=3, alpha=0.5, label=name)
    for ax, what, unit in ((ax_e, "energy", "eV/atom"), (ax_f, "force component", "eV/Å")):
        low, high = ax.get_xlim()
        low, high = min(low, ax.get_ylim()[0]), max(high, ax.get_ylim()[1])
        ax.plot([low, high], [low, high], color="0.4", lw=0.8)
        ax.set(xlim=(low, high), ylim=(low, high), xlabel=f"DFT {what} ({unit})", ylabel=f"model {what} ({unit})")
    if isinstance(results, PropertyResult):
        ax_e.set_title(f"energy RMSE {results.values.get('energy_rmse_mev_atom', math.nan):.1f} meV/atom")
        ax_f.set_title(f"force RMSE {results.values.get('force_rmse_ev_a', math.nan):.3f} eV/Å")
    ax_e.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _series_by_config_type(result: PropertyResult, dataset: Dataset | None) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    for frame in frame_predictions(result.details, dataset):
        series.setdefault(frame["config_type"], []).append(frame)
    return series
