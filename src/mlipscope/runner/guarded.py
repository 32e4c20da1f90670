"""A calculator wrapper that enforces a deadline, rejects non-physical output and times the calculator.

Every property drives its calculator through many small calls (relaxation steps, strained cells, MD steps), so
checking at each call gives a per-task time limit that works inside Dask worker threads (where signals do not), and
turns NaN/inf or exploding energies into a recorded failure instead of silently stored garbage.
"""

from __future__ import annotations

import math
import time

import numpy as np
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
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TaskTimeout("per-task time limit reached")
        super().calculate(atoms, properties, system_changes)
        start = time.perf_counter()
        try:
            # get_property, not atoms.get_forces(): constraints are applied once, by the caller's Atoms
            wanted = ["energy"] + [p for p in ("forces", "stress") if p in properties]
            results = {name: np.array(self.inner.get_property(name, self.atoms), dtype=float) for name in wanted}
        finally:
            self.seconds_inside += time.perf_counter() - start
            self.n_calls += 1
        _check_shapes(results, len(self.atoms))
        energy = float(results["energy"])
        if not math.isfinite(energy) or any(not np.all(np.isfinite(v)) for v in results.values()):
            raise EvaluationError("calculator returned non-finite energy, forces or stress")
        if abs(energy) / max(len(self.atoms), 1) > self.max_abs_energy_per_atom_ev:
            raise EvaluationError(f"exploding energy: {energy / len(self.atoms):.3g} eV/atom")
        results["energy"] = results["free_energy"] = energy
        self.results = results


def _check_shapes(results: dict[str, np.ndarray], n_atoms: int) -> None:
    """Refuse results of the wrong shape with a message that says so (not a numpy broadcast error later)."""
    if results["energy"].size != 1:
        raise EvaluationError(f"calculator returned an energy of shape {results['energy'].shape}, expected a scalar")
    results["energy"] = results["energy"].reshape(())
    if "forces" in results and results["forces"].shape != (n_atoms, 3):
        raise EvaluationError(f"calculator returned forces of shape {results['forces'].shape} for {n_atoms} atoms")
    if "stress" in results and results["stress"].shape not in ((6,), (3, 3)):
        raise EvaluationError(f"calculator returned a stress of shape {results['stress'].shape}, expected (6,)")
