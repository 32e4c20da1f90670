"""A model's per-frame errors on a labelled dataset, stored compactly: what ``details["frames"]`` of the dataset
evaluations (``errors_*``: :mod:`.dataset_errors`; ``re_*``: :mod:`.rare_events`) holds for the uncertainty
analysis and the parity figures.

Stored are the model's *errors* against the dataset's DFT labels, not its predictions next to a copy of the labels:
the labels are in the dataset already (a prediction is label + error, :meth:`FrameErrors.predictions`), and the
ensemble analysis needs no labels at all (members' spread of predictions = spread of errors; error of the ensemble
mean = mean of the errors). Layout ``"errors/3"`` (numpy arrays, which a store may keep in binary):

- ``index``, ``n_atoms``: the frames' positions in the dataset and their atom counts;
- ``energy_error_quanta``: model − DFT energy per atom in units of ``energy_error_quantum_ev_atom`` = 2⁻²⁰ eV/atom
  (≈ 1e-6), rounded;
- ``force_error_quanta``: the force-component errors in units of ``force_error_quantum_ev_a`` = 2⁻¹⁰ eV/Å ≈ 0.001
  eV/Å, rounded, frames one after the other, atom-major (x, y, z). Rounded to ±0.0005 eV/Å: a hundredth of typical
  MLIP force errors and below the DFT labels' own convergence, and what lets ~2000 members' test-set forces fit
  in ~11 MB (float32 needs 37 MB, float16 18 MB; ``benchmarks/uncertainty_storage.py``);
- quanta are int16, or int32 where they do not fit; errors that are not finite or too large even for int32 are kept
  as float32 ``energy_error_ev_atom`` / ``force_error_ev_a`` instead (NaN energies: the model gave none);
- ``stored_atoms``, ``stored_counts``: only where not every atom is stored (the rare-event sets keep their RE atoms
  and as many of the atoms farthest from them, :func:`~mlipscope.properties.rare_events.stored_re_atoms`): per
  stored atom its index in its frame, and per frame how many;
- ``stress_error_quanta``: only when a frame has a DFT stress: the stress errors (n_frames, 6) in units of
  ``stress_error_quantum_gpa`` = 2⁻¹⁰ GPa ≈ 0.001 GPa (0.01 kbar, below the DFT labels' convergence), rounded, int16
  or int32 (0.27 kB per member of the scale example's test set, 0.6 kB as float32); where one is NaN (a frame or the
  model without stress) or too large, float32 ``stress_error_gpa`` instead (all that layout ``"errors/2"`` stored);
- ``dataset``, ``dataset_hash``: what :func:`~mlipscope.properties.dataset_errors.load_dataset` reads to get the
  labels back, and the start of its content hash (a changed file is refused rather than mixed with old errors).

:meth:`FrameErrors.from_details` reads layout ``"errors/2"`` too (float32 stresses always), and the old layout (before
issue 23), a list of records with the model's and the DFT values as full-precision lists
(:func:`~mlipscope.properties.dataset_errors.frame_prediction`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.units import EV_PER_A3_TO_GPA

LAYOUT = "errors/3"
#: the layouts :meth:`FrameErrors.from_details` reads (besides the old list of records)
LAYOUTS = ("errors/2", LAYOUT)
FORCE_QUANTUM_EV_A = 2.0**-10
ENERGY_QUANTUM_EV_ATOM = 2.0**-20
STRESS_QUANTUM_GPA = 2.0**-10
HASH_CHARS = 16
_INT32_MAX = np.iinfo(np.int32).max


def _ints(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _smallest_int(values: np.ndarray) -> np.ndarray:
    """``values`` (integers within int32) as int16 when they fit, else int32."""
    if values.size == 0 or np.abs(values).max() <= np.iinfo(np.int16).max:
        return values.astype(np.int16)
    return values.astype(np.int32)


def _quantized(name: str, unit: str, values: np.ndarray, quantum: float) -> dict[str, Any]:
    """``values`` as rounded multiples of ``quantum`` (``<name>_quanta``, ``<name>_quantum_<unit>``), or as float32
    ``<name>_<unit>`` when one is not finite or too large for int32 (rounding NaN would invent numbers)."""
    if values.size and not (np.isfinite(values).all() and np.abs(values).max() / quantum < _INT32_MAX):
        return {f"{name}_{unit}": values.astype(np.float32)}
    return {f"{name}_quanta": _smallest_int(np.rint(values / quantum)), f"{name}_quantum_{unit}": quantum}


def stress_details(stress_error_gpa: np.ndarray) -> dict[str, Any]:
    """The stored stress errors (module doc): quanta of :data:`STRESS_QUANTUM_GPA`, or float32 where NaN."""
    return _quantized("stress_error", "gpa", stress_error_gpa, STRESS_QUANTUM_GPA)


def _dequantized(frames: Mapping[str, Any], name: str, unit: str) -> np.ndarray:
    if f"{name}_quanta" in frames:
        return _ints(frames[f"{name}_quanta"]) * float(frames[f"{name}_quantum_{unit}"])
    return np.asarray(frames[f"{name}_{unit}"], dtype=float).reshape(-1)


@dataclass(frozen=True, eq=False)
class FrameErrors:
    """One model's errors on the frames of a dataset it was evaluated on (float64 arrays; see the module doc)."""

    index: np.ndarray  # (n_frames,) positions of the frames in the dataset
    n_atoms: np.ndarray  # (n_frames,) atoms per frame
    energy_error_ev_atom: np.ndarray  # (n_frames,) model - DFT per atom; NaN: no model energy
    force_error_ev_a: np.ndarray  # (3 * stored atoms,) model - DFT force components, atom-major
    stored_atoms: np.ndarray | None = None  # (stored atoms,) index of each stored atom in its frame; None: all
    stored_counts: np.ndarray | None = None  # (n_frames,) stored atoms per frame; None: all
    stress_error_gpa: np.ndarray | None = None  # (n_frames, 6), NaN where absent
    dataset: str = ""
    dataset_hash: str = ""

    @property
    def atoms_per_frame(self) -> np.ndarray:
        """Stored atoms per frame (every atom unless :attr:`stored_atoms` says otherwise)."""
        return self.n_atoms if self.stored_counts is None else self.stored_counts

    @property
    def force_offsets(self) -> np.ndarray:
        """(n_frames + 1,): frame k's components are ``force_error_ev_a[offsets[k]:offsets[k + 1]]``."""
        return np.concatenate([[0], np.cumsum(3 * self.atoms_per_frame)]).astype(np.int64)

    def atom_indices(self) -> np.ndarray:
        """Per stored atom, its index in its frame (flat, frames one after the other)."""
        if self.stored_atoms is not None:
            return self.stored_atoms
        return np.concatenate([np.arange(n) for n in self.n_atoms]) if len(self.n_atoms) else np.zeros(0, int)

    # -- building and storing ------------------------------------------------------------------------------------
    @classmethod
    def from_records(
        cls, records: Sequence[Mapping[str, Any]], dataset: str = "", dataset_hash: str = ""
    ) -> FrameErrors:
        """From records of the old layout (model and DFT values per frame, plain lists; optional ``"atoms"``: the
        stored atoms' indices)."""
        partial = any("atoms" in r for r in records)
        stress = [r.get("stress_model_gpa") is not None and r.get("stress_dft_gpa") is not None for r in records]
        stress_error = None
        if any(stress):
            stress_error = np.full((len(records), 6), np.nan)
            for k, r in enumerate(records):
                if stress[k]:
                    stress_error[k] = np.subtract(r["stress_model_gpa"], r["stress_dft_gpa"])
        forces = [np.subtract(r["forces_model_ev_a"], r["forces_dft_ev_a"], dtype=float).ravel() for r in records]
        return cls(
            index=_ints([r["index"] for r in records]),
            n_atoms=_ints([r["n_atoms"] for r in records]),
            energy_error_ev_atom=np.array(
                [_difference(r.get("energy_model_ev_atom"), r.get("energy_dft_ev_atom")) for r in records], float
            ),
            force_error_ev_a=np.concatenate(forces) if forces else np.zeros(0),
            stored_atoms=_ints([i for r in records for i in r["atoms"]]) if partial else None,
            stored_counts=_ints([len(r["atoms"]) for r in records]) if partial else None,
            stress_error_gpa=stress_error,
            dataset=dataset,
            dataset_hash=dataset_hash,
        )

    @classmethod
    def from_details(cls, frames: Any) -> FrameErrors:
        """From a stored ``details["frames"]``: the compact layout, or the old list of records. Raises ValueError
        on anything else."""
        if isinstance(frames, Sequence) and not isinstance(frames, str | bytes):
            return cls.from_records(frames)
        if not isinstance(frames, Mapping) or frames.get("layout") not in LAYOUTS:
            raise ValueError(f"not a stored frame layout: {type(frames).__name__}")
        partial = frames.get("stored_atoms") is not None
        has_stress = frames.get("stress_error_gpa") is not None or frames.get("stress_error_quanta") is not None
        return cls(
            index=_ints(frames["index"]),
            n_atoms=_ints(frames["n_atoms"]),
            energy_error_ev_atom=_dequantized(frames, "energy_error", "ev_atom"),
            force_error_ev_a=_dequantized(frames, "force_error", "ev_a"),
            stored_atoms=_ints(frames["stored_atoms"]) if partial else None,
            stored_counts=_ints(frames["stored_counts"]) if partial else None,
            stress_error_gpa=_dequantized(frames, "stress_error", "gpa").reshape(-1, 6) if has_stress else None,
            dataset=str(frames.get("dataset", "")),
            dataset_hash=str(frames.get("dataset_hash", "")),
        )

    def to_details(self) -> dict[str, Any]:
        """The compact layout (module doc): numpy arrays of rounded errors."""
        out: dict[str, Any] = {
            "layout": LAYOUT,
            "dataset": self.dataset,
            "dataset_hash": self.dataset_hash,
            "index": _smallest_int(self.index),
            "n_atoms": _smallest_int(self.n_atoms),
            **_quantized("energy_error", "ev_atom", self.energy_error_ev_atom, ENERGY_QUANTUM_EV_ATOM),
            **_quantized("force_error", "ev_a", self.force_error_ev_a, FORCE_QUANTUM_EV_A),
        }
        if self.stored_atoms is not None:
            out["stored_atoms"] = _smallest_int(self.stored_atoms)
            out["stored_counts"] = _smallest_int(self.stored_counts)
        if self.stress_error_gpa is not None:
            out.update(stress_details(self.stress_error_gpa))
        return out

    # -- reading -------------------------------------------------------------------------------------------------
    def select(self, frame_indices: np.ndarray) -> FrameErrors:
        """The frames ``frame_indices`` (dataset positions, each stored here), in that order."""
        frame_indices = _ints(frame_indices)
        if np.array_equal(frame_indices, self.index):
            return self
        position = {int(i): k for k, i in enumerate(self.index)}
        rows = np.array([position[int(i)] for i in frame_indices], dtype=np.int64)
        offsets = self.force_offsets
        forces = [self.force_error_ev_a[offsets[k] : offsets[k + 1]] for k in rows]
        atoms = None
        if self.stored_atoms is not None:
            starts = offsets // 3
            parts = [self.stored_atoms[starts[k] : starts[k + 1]] for k in rows]
            atoms = _ints(np.concatenate(parts) if parts else [])
        return replace(
            self,
            index=frame_indices,
            n_atoms=self.n_atoms[rows],
            energy_error_ev_atom=self.energy_error_ev_atom[rows],
            force_error_ev_a=np.concatenate(forces) if forces else np.zeros(0),
            stored_atoms=atoms,
            stored_counts=None if self.stored_counts is None else self.stored_counts[rows],
            stress_error_gpa=None if self.stress_error_gpa is None else self.stress_error_gpa[rows],
        )

    def predictions(self, dataset: Dataset | None = None) -> list[dict[str, Any]]:
        """The records of the old layout (model value = DFT label + error, per frame), for parity figures:
        labels from ``dataset``, or from the dataset the errors name (InputError when it is not found or its
        content changed since)."""
        data = dataset if dataset is not None else self._load_dataset()
        if self.dataset_hash and not data.content_hash.startswith(self.dataset_hash):
            raise InputError(
                data.path or self.dataset, "dataset", "the dataset the errors were computed on (its content changed)"
            )
        offsets, atoms = self.force_offsets, self.atom_indices()
        out = []
        for k, i in enumerate(self.index):
            frame = data.frames[int(i)]
            chosen = atoms[offsets[k] // 3 : offsets[k + 1] // 3]
            dft_forces = np.asarray(frame.arrays[FORCES_KEY], dtype=float)[chosen].ravel()
            energy_dft = float(frame.info[ENERGY_KEY]) / len(frame)
            record = {
                "index": int(i),
                "config_type": str(frame.info.get("config_type", "default")),
                "n_atoms": len(frame),
                "energy_dft_ev_atom": energy_dft,
                "energy_model_ev_atom": energy_dft + float(self.energy_error_ev_atom[k]),
                "forces_dft_ev_a": dft_forces.tolist(),
                "forces_model_ev_a": (dft_forces + self.force_error_ev_a[offsets[k] : offsets[k + 1]]).tolist(),
            }
            if self.stored_atoms is not None:
                record["atoms"] = chosen.tolist()
            stress = None if self.stress_error_gpa is None else self.stress_error_gpa[k]
            if stress is not None and STRESS_KEY in frame.info and np.isfinite(stress).all():
                dft_stress = np.asarray(frame.info[STRESS_KEY], dtype=float) * EV_PER_A3_TO_GPA
                record["stress_dft_gpa"] = dft_stress.tolist()
                record["stress_model_gpa"] = (dft_stress + stress).tolist()
            out.append(record)
        return out

    def _load_dataset(self) -> Dataset:
        from mlipscope.properties.dataset_errors import load_dataset

        if not self.dataset:
            raise InputError(None, "dataset", "the dataset of the stored frame errors (they name none)")
        return load_dataset(self.dataset)


def _difference(model: Any, dft: Any) -> float:
    if model is None or dft is None:
        return math.nan
    return float(model) - float(dft)


def dataset_locator(spec: Dataset | str, data: Dataset) -> str:
    """What :func:`~mlipscope.properties.dataset_errors.load_dataset` can read ``data`` back from: the spec it was
    loaded by (an example name or a path), else its file, else its name."""
    if isinstance(spec, str):
        return spec
    return str(data.path) if data.path else data.name


def frame_predictions(details: Mapping[str, Any], dataset: Dataset | None = None) -> list[dict[str, Any]]:
    """The per-frame records (old layout) of a result's ``details["frames"]``, whichever layout is stored."""
    frames = details["frames"]
    if isinstance(frames, Sequence) and not isinstance(frames, str | bytes):
        return list(frames)
    return FrameErrors.from_details(frames).predictions(dataset)
