"""Dimer curves: the binding energy E(r) = E(pair at distance r) - E(atom A) - E(atom B) of every element pair of
the material, from short range to the cutoff, and whether it is physical.

As in the diatomics benchmarks of MLIP Arena (Chiang et al., 2025) and LAMBench, a model trained on condensed
phases is not asked to match the molecule's bond; it is asked not to be absurd there: one minimum, a repulsive wall
that rises monotonically as the atoms approach, a curve without jumps, forces that change sign once (at the
minimum), and a binding energy that goes to zero at the cutoff. Values per pair ``<A>-<B>``:

- ``<A>-<B>.r_min_a`` and ``.well_depth_ev``: the position and depth of the lowest point (no reference: the
  material files list none, so the report says so);
- ``.n_minima``, ``.force_sign_changes``, ``.wall_monotonic``: counts and a 0/1 flag, physicality checks;
- ``.energy_jump_ev``: the largest change of E between neighbouring points that the forces do not explain
  (trapezoid rule; below 2 eV, away from the steep wall): a jump, or forces that are not the energy's gradient;
- ``.tail_energy_ev``: |E| at the last point (should be ~0 at the cutoff).

The error table gets ``<A>-<B>.unphysical`` (0 or 1): error metric with reference 0, so an unphysical dimer
counts as outside any acceptable error.
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.structures import isolated_atom_energy_ev


def dimer_energy_ev(calculator: Calculator, a: str, b: str, r_a: float, box_a: float) -> tuple[float, float]:
    """Energy (eV) and the force on atom B along the bond (eV/Å, positive: repulsive) of the pair at ``r_a``."""
    atoms = Atoms([a, b], positions=[[0.0, 0.0, 0.0], [r_a, 0.0, 0.0]], cell=[box_a] * 3, pbc=True)
    atoms.center()
    atoms.calc = calculator
    energy = float(atoms.get_potential_energy())
    force = float(atoms.get_forces()[1, 0])
    return energy, force


#: the energy (eV) above which the curve is the repulsive wall: checked for monotonicity, not for jumps
WALL_EV = 2.0


def physicality(r_a: np.ndarray, energy_ev: np.ndarray, force_ev_a: np.ndarray) -> dict[str, float]:
    """The physicality metrics of one binding curve (see the module docstring)."""
    i_min = int(np.argmin(energy_ev))
    interior = (energy_ev[1:-1] < energy_ev[:-2]) & (energy_ev[1:-1] < energy_ev[2:])
    n_minima = int(interior.sum()) + int(energy_ev[0] < energy_ev[1]) + int(energy_ev[-1] < energy_ev[-2])
    signs = np.sign(force_ev_a[np.abs(force_ev_a) > 1e-6])
    sign_changes = int(np.count_nonzero(np.diff(signs)))
    wall = energy_ev[: i_min + 1]
    # energy steps the forces do not explain (a jump, or forces that are not the energy's gradient), away from the
    # steep wall where a coarse grid's trapezoid error alone is large
    predicted_step = -0.5 * (force_ev_a[:-1] + force_ev_a[1:]) * np.diff(r_a)
    mismatch = np.abs(np.diff(energy_ev) - predicted_step)
    low = (energy_ev[:-1] < WALL_EV) & (energy_ev[1:] < WALL_EV)
    r_min, e_min = float(r_a[i_min]), float(energy_ev[i_min])
    if 0 < i_min < r_a.size - 1:  # the parabola through the lowest point and its neighbours: finer than the grid
        c2, c1, c0 = np.polyfit(r_a[i_min - 1 : i_min + 2], energy_ev[i_min - 1 : i_min + 2], 2)
        if c2 > 0:
            r_min = float(np.clip(-c1 / (2 * c2), r_a[i_min - 1], r_a[i_min + 1]))
            e_min = float(min(c0 + c1 * r_min + c2 * r_min**2, e_min))
    return {
        "r_min_a": r_min,
        "well_depth_ev": -e_min,
        "n_minima": float(n_minima),
        "force_sign_changes": float(sign_changes),
        "wall_monotonic": float(bool(np.all(np.diff(wall) < 0))) if wall.size > 1 else 0.0,
        "energy_jump_ev": float(np.max(mismatch[low])) if low.any() else 0.0,
        "tail_energy_ev": float(abs(energy_ev[-1])),
    }


def is_unphysical(metrics: dict[str, float], *, jump_tolerance_ev: float = 0.5, tail_tolerance_ev: float = 0.1) -> bool:
    """More than one minimum, a non-monotonic wall, several force sign changes, a jump or a tail."""
    return (
        metrics["n_minima"] != 1
        or metrics["wall_monotonic"] != 1.0
        or metrics["force_sign_changes"] > 1
        or metrics["energy_jump_ev"] > jump_tolerance_ev
        or metrics["tail_energy_ev"] > tail_tolerance_ev
    )


class DimerCurve(Property):
    """Binding curves of every element pair of the material, ``n_points`` distances from ``r_min_a`` to
    ``r_max_a`` (Å, about a model's cutoff) in a periodic ``box_a`` box (images beyond any cutoff)."""

    name = "dimer"
    suite_order = 200

    @classmethod
    def suite_entries(cls, material) -> list[SuiteEntry]:
        """``dimer``: every material (the pairs of its elements)."""
        return [cls.suite_entry("dimer")]

    def __init__(
        self,
        label: str | None = None,
        *,
        material=None,
        r_min_a: float = 0.8,
        r_max_a: float = 6.0,
        n_points: int = 60,
        box_a: float = 20.0,
    ) -> None:
        super().__init__(label, material=material)
        if not 0.1 <= r_min_a < r_max_a:
            raise InputError(None, "r_min_a/r_max_a", "0.1 <= r_min_a < r_max_a (Å)", got=(r_min_a, r_max_a))
        if n_points < 10:
            raise InputError(None, "n_points", "at least 10 distances", got=n_points)
        if box_a < 2 * r_max_a:
            raise InputError(None, "box_a", f"a box of at least 2 r_max_a = {2 * r_max_a} Å", got=box_a)
        self.r_min_a, self.r_max_a, self.n_points, self.box_a = r_min_a, r_max_a, n_points, box_a

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        distances = np.linspace(self.r_min_a, self.r_max_a, self.n_points)
        species = sorted(self.material.species)
        atom_ev = {s: isolated_atom_energy_ev(calculator, s, self.box_a) for s in species}
        values: dict[str, float] = {}
        units: dict[str, str] = {}
        curves: dict[str, Any] = {}
        for a, b in combinations_with_replacement(species, 2):
            pair = f"{a}-{b}"
            points = [dimer_energy_ev(calculator, a, b, r, self.box_a) for r in distances]
            energy = np.array([e for e, _ in points]) - atom_ev[a] - atom_ev[b]
            force = np.array([f for _, f in points])
            if not (np.isfinite(energy).all() and np.isfinite(force).all()):
                raise EvaluationError(f"dimer {pair}: non-finite energy or force")
            metrics = physicality(distances, energy, force)
            units |= {f"{pair}.{k}": u for k, u in _UNITS.items()}
            values |= {f"{pair}.{k}": v for k, v in metrics.items()}
            values[f"{pair}.unphysical"] = float(is_unphysical(metrics))
            curves[pair] = {"r_a": distances.tolist(), "energy_ev": energy.tolist(), "force_ev_a": force.tolist()}
        units |= {k: "1" for k in values if k.endswith(".unphysical")}
        return self.result(
            values,
            units,
            error_metrics={k for k in values if k.endswith(".unphysical")},
            details={"curves": curves},
        )


_UNITS = {
    "r_min_a": "Å",
    "well_depth_ev": "eV",
    "n_minima": "1",
    "force_sign_changes": "1",
    "wall_monotonic": "1",
    "energy_jump_ev": "eV",
    "tail_energy_ev": "eV",
}
