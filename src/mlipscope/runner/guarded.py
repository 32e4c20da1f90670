"""A calculator wrapper that enforces a deadline, rejects non-physical output and times the calculator.

Every property drives its calculator through many small calls (relaxation steps, strained cells, MD steps), so
checking at each call gives a per-task time limit that works inside Dask worker threads (where signals do not), and
turns NaN/inf or exploding energies into a recorded failure instead of silently stored garbage.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.errors import EvaluationError, TaskTimeout

__all__ = ["GuardedCalculator", "TaskTimeout"]


class GuardedCalculator(Calculator):
    """Delegates to ``inner``; raises :class:`TaskTimeout` after ``deadline`` (``time.monotonic()`` value) and
    :class:`EvaluationError` on non-finite results or energies beyond ``max_abs_energy_per_atom_ev``.
    ``seconds_inside`` accumulates time spent in the inner calculator (for the framework-overhead benchmark)."""

    implemented_properties = ["energy", "forces", "stress", "free_energy", "energies"]

    def __init__(
        self,
        inner: Calculator,
        *,
        deadline: float | None = None,
        max_abs_energy_per_atom_ev: float = 1.0e3,
    ) -> None:
        super().__init__()
        self.inner = inner
        self.deadline = deadline
        self.max_abs_energy_per_atom_ev = max_abs_energy_per_atom_ev
        self.seconds_inside = 0.0
        self.n_calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        self._check_deadline()
        super().calculate(atoms, properties, system_changes)
        start = time.perf_counter()
        try:
            # get_property, not atoms.get_forces(): constraints are applied once, by the caller's Atoms
            wanted = ["energy"] + [p for p in ("forces", "stress") if p in properties]
            results = {name: np.array(self.inner.get_property(name, self.atoms), dtype=float) for name in wanted}
        finally:
            self.seconds_inside += time.perf_counter() - start
            self.n_calls += 1
        self.results = self._checked(results, len(self.atoms))

    @property
    def predict_batch(self) -> Callable[[Sequence[Atoms], Sequence[str]], list[dict[str, Any]]] | None:
        """The inner calculator's batched prediction (:class:`~mlipscope.properties.frames.BatchPredictor`) with
        this wrapper's deadline and checks; None when it has none (fixed-frame properties then go frame by frame)."""
        return self._predict_batch if callable(getattr(self.inner, "predict_batch", None)) else None

    @property
    def batch_size(self) -> int:
        return int(getattr(self.inner, "batch_size", 1) or 1)

    def _predict_batch(self, frames: Sequence[Atoms], properties: Sequence[str]) -> list[dict[str, Any]]:
        """A batch is all or nothing: one frame with non-finite output fails the call (the caller then goes frame
        by frame, which says which frame failed)."""
        self._check_deadline()
        wanted = ["energy"] + [p for p in ("forces", "stress") if p in properties]  # as calculate: energy always
        start = time.perf_counter()
        try:
            batch = list(self.inner.predict_batch(frames, wanted))
        finally:
            self.seconds_inside += time.perf_counter() - start
            self.n_calls += len(frames)
        if len(batch) != len(frames):
            raise EvaluationError(f"calculator returned {len(batch)} batch results for {len(frames)} frames")
        out = []
        for atoms, results in zip(frames, batch, strict=True):
            arrays = {k: np.array(v, dtype=float) for k, v in results.items() if k in wanted and v is not None}
            out.append(self._checked(arrays, len(atoms)) | ({"stress": None} if "stress" not in arrays else {}))
        return out

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimeout("per-task time limit reached")

    def _checked(self, results: dict[str, np.ndarray], n_atoms: int) -> dict[str, Any]:
        """``results`` with the energy as a float, after the shape and sanity checks."""
        _check_shapes(results, n_atoms)
        energy = float(results["energy"])
        if not math.isfinite(energy) or any(not np.all(np.isfinite(v)) for v in results.values()):
            raise EvaluationError("calculator returned non-finite energy, forces or stress")
        if abs(energy) / max(n_atoms, 1) > self.max_abs_energy_per_atom_ev:
            raise EvaluationError(f"exploding energy: {energy / n_atoms:.3g} eV/atom")
        return {**results, "energy": energy, "free_energy": energy}


def _check_shapes(results: dict[str, np.ndarray], n_atoms: int) -> None:
    """Refuse results of the wrong shape with a message that says so (not a numpy broadcast error later)."""
    if results["energy"].size != 1:
        raise EvaluationError(f"calculator returned an energy of shape {results['energy'].shape}, expected a scalar")
    results["energy"] = results["energy"].reshape(())
    if "forces" in results and results["forces"].shape != (n_atoms, 3):
        raise EvaluationError(f"calculator returned forces of shape {results['forces'].shape} for {n_atoms} atoms")
    if "stress" in results and results["stress"].shape not in ((6,), (3, 3)):
        raise EvaluationError(f"calculator returned a stress of shape {results['stress'].shape}, expected (6,)")
