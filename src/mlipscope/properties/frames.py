"""Fixed-geometry evaluation: a model's energy, forces (and stress) on frames it is given, batched where it can.

The properties that only need predictions on given frames (test-set errors, the rare-event sets) call
:func:`predict_frames`. A calculator that evaluates many structures in one call offers the
:class:`BatchPredictor` capability (``predict_batch`` and ``batch_size``: CHGNet's batched graph prediction,
:class:`mlipscope.chgnet_batch.BatchedCHGNetCalculator`); others are called frame by frame through ASE. The values
are the same either way (CHGNet: tested to 1e-4 eV/atom and 1e-3 eV/Å; in practice equal to round-off, as CHGNet
concatenates the graphs of a batch). The runner's :class:`~mlipscope.runner.guarded.GuardedCalculator` passes the
capability through with its deadline and sanity checks.

A batch that raises (other than the time limit) is evaluated again frame by frame, so a failure is the frame's own,
with the reason the per-frame path gives. Progress is reported per batch (or frame) as ``"frames"`` through
:func:`mlipscope.properties.progress.report_progress`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.stress import full_3x3_to_voigt_6_stress

from mlipscope.errors import TaskTimeout
from mlipscope.properties.progress import report_progress


@runtime_checkable
class BatchPredictor(Protocol):
    """What a calculator with batched prediction offers.

    ``predict_batch(frames, properties)``: one dict per frame, in order, with ``"energy"`` (eV), ``"forces"``
    (eV/Å, shape (n_atoms, 3)) and, when ``"stress"`` is in ``properties``, ``"stress"`` (eV/Å³, ASE's Voigt order,
    tension positive; None when the model has none): exactly what ``atoms.get_potential_energy()``,
    ``atoms.get_forces()`` and ``atoms.get_stress()`` give for each frame. ``batch_size``: frames per call.
    """

    batch_size: int

    def predict_batch(self, frames: Sequence[Atoms], properties: Sequence[str]) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class FramePrediction:
    """A model's energy (eV; NaN when not asked for), forces (eV/Å) and stress (eV/Å³ Voigt, or None) on a frame."""

    energy_ev: float
    forces_ev_a: np.ndarray
    stress_ev_a3: np.ndarray | None = None


def batch_predictor(calculator: Calculator) -> BatchPredictor | None:
    """``calculator`` when it offers batched prediction (a callable ``predict_batch``), else None."""
    return calculator if callable(getattr(calculator, "predict_batch", None)) else None  # type: ignore[return-value]


def predict_frames(
    calculator: Calculator,
    frames: Sequence[Atoms],
    properties: Sequence[str] = ("energy", "forces"),
    *,
    stress: Sequence[bool] | None = None,
    raise_errors: bool = False,
    label: str = "",
    show_bar: bool = False,
) -> list[FramePrediction | Exception]:
    """The model's predictions on ``frames`` (their numbers, positions, cell and pbc only), in order.

    ``properties``: ``"energy"`` and/or ``"forces"`` (forces are always computed). ``stress``: per frame, whether
    its stress is wanted (computed when its energy and forces are finite; None where the model has no stress).
    A frame the model fails on gives its exception in the list, or raises it with ``raise_errors``; the time limit
    (:class:`~mlipscope.errors.TaskTimeout`) always raises. ``show_bar``: a tqdm bar named ``label``."""
    from tqdm.auto import tqdm  # imported where a bar may show: benchmark's main process lists the suite

    n_frames = len(frames)
    want_stress = [bool(s) for s in stress] if stress is not None else [False] * n_frames
    predictor = batch_predictor(calculator)
    size = max(1, int(getattr(predictor, "batch_size", 1) or 1)) if predictor is not None else 1
    out: list[FramePrediction | Exception] = []
    with tqdm(total=n_frames, desc=label or None, disable=not show_bar) as bar:
        for start in range(0, n_frames, size):
            chunk, chunk_stress = frames[start : start + size], want_stress[start : start + size]
            if predictor is not None:
                out.extend(_predict_batch(predictor, calculator, chunk, properties, chunk_stress, raise_errors))
            else:
                out.append(_predict_one(calculator, chunk[0], properties, chunk_stress[0], raise_errors))
            bar.update(len(chunk))
            report_progress("frames", len(out), n_frames)
    return out


def _probe(atoms: Atoms) -> Atoms:
    """The frame as a model sees it: no labels, constraints or stored arrays."""
    return Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def _predict_one(
    calculator: Calculator, atoms: Atoms, properties: Sequence[str], want_stress: bool, raise_errors: bool
) -> FramePrediction | Exception:
    try:
        probe = _probe(atoms)
        probe.calc = calculator
        forces = np.asarray(probe.get_forces(), dtype=float)
        energy = float(probe.get_potential_energy()) if "energy" in properties else math.nan
        stress = None
        if want_stress and math.isfinite(energy) and np.isfinite(forces).all():
            try:
                stress = np.asarray(probe.get_stress(voigt=True), dtype=float)
            except PropertyNotImplementedError:
                stress = None  # the model has no stress: stress metrics become NaN, energy/forces still count
        return FramePrediction(energy, forces, stress)
    except TaskTimeout:
        raise
    except Exception as exc:  # noqa: BLE001 - a model failing on a frame is data for the caller
        if raise_errors:
            raise
        return exc


def _predict_batch(
    predictor: BatchPredictor,
    calculator: Calculator,
    chunk: Sequence[Atoms],
    properties: Sequence[str],
    want_stress: Sequence[bool],
    raise_errors: bool,
) -> list[FramePrediction | Exception]:
    """One batch call; when it fails, the chunk frame by frame (each failure is then its frame's own)."""
    wanted = [p for p in ("energy", "forces") if p in properties or p == "forces"]
    wanted += ["stress"] if any(want_stress) else []
    try:
        results = predictor.predict_batch([_probe(a) for a in chunk], wanted)
        if len(results) != len(chunk):
            raise ValueError(f"predict_batch gave {len(results)} results for {len(chunk)} frames")
        return [_from_results(r, s, "energy" in properties) for r, s in zip(results, want_stress, strict=True)]
    except TaskTimeout:
        raise
    except Exception:  # noqa: BLE001 - which frame failed, and why, is the per-frame path's to say
        pairs = zip(chunk, want_stress, strict=True)
        return [_predict_one(calculator, a, properties, s, raise_errors) for a, s in pairs]


def _from_results(results: dict[str, Any], want_stress: bool, with_energy: bool) -> FramePrediction:
    energy = float(results["energy"]) if with_energy else math.nan
    forces = np.asarray(results["forces"], dtype=float)
    stress = results.get("stress") if want_stress else None
    if stress is not None and not (math.isfinite(energy) and np.isfinite(forces).all()):
        stress = None  # as the per-frame path: no stress of a frame whose energy or forces are not finite
    if stress is not None and np.shape(stress) == (3, 3):
        stress = full_3x3_to_voigt_6_stress(np.asarray(stress, dtype=float))  # as atoms.get_stress() converts it
    return FramePrediction(energy, forces, None if stress is None else np.asarray(stress, dtype=float))
