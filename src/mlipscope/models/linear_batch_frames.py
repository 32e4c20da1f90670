"""The stored per-frame errors (``details["frames"]``) of a block of batched linear members, from stacked arrays.

:mod:`mlipscope.models.linear_batch_metrics` gives each member the result the properties' per-frame code gives it;
this module builds the part of it that is per frame and per member: the compact layout of
:mod:`mlipscope.properties.frame_data` (rounded errors as integer quanta), exactly as
:meth:`FrameErrors.to_details <mlipscope.properties.frame_data.FrameErrors.to_details>` writes it for the
per-frame code. The errors of all members of a block are quantised at once (a few passes over the block's arrays);
a member then costs a few array copies. A member the fast path does not cover exactly (a frame it did not predict,
an error that is not finite or too large for int16/int32 quanta well inside their range) gets
``FrameErrors.to_details`` of its own frames, the per-frame code's function itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from mlipscope.properties.frame_data import ENERGY_QUANTUM_EV_ATOM, FORCE_QUANTUM_EV_A, FrameErrors, stress_details

_INT16_MAX = float(np.iinfo(np.int16).max)
#: float64 elements of a chunk of errors worked on at once (a fraction of a CPU's cache)
CHUNK_ELEMENTS = 1 << 16
#: fast path only below this many quanta: far from where int32 overflows and ``to_details`` falls back to float32
_FAST_MAX_QUANTA = 2.0**30


def _quanta(
    values: np.ndarray, quantum: float, reference: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rounded quanta of the errors ``values - reference`` (m, n) as int32, per row: whether all fit the fast
    path, whether all fit int16). A few rows at a time, so that the passes over a chunk stay in the CPU cache.
    The quantum is a power of two: ``error / quantum`` is exact, as in ``to_details``."""
    m, n = values.shape
    quanta, largest = np.empty((m, n), dtype=np.int32), np.empty(m)
    step = max(1, CHUNK_ELEMENTS // max(1, n))
    with np.errstate(invalid="ignore"):  # NaN and huge errors cast to int32: such rows are not fast
        for start in range(0, m, step):
            rows = slice(start, start + step)
            chunk = values[rows] - reference if reference is not None else values[rows].copy()
            np.divide(chunk, quantum, out=chunk)
            np.rint(chunk, out=chunk)
            largest[rows] = np.maximum(chunk.max(axis=1, initial=0.0), -chunk.min(axis=1, initial=0.0))  # NaN: NaN
            quanta[rows] = chunk
    return quanta, largest < _FAST_MAX_QUANTA, largest <= _INT16_MAX


class StoredFrames:
    """``details["frames"]`` of each member of a block.

    ``frames``: what all members share, the errors left empty (frame indices, atom counts, stored atoms, dataset);
    ``energy_ev_atom`` (m, n_frames): the members' energy errors on all of them; ``forces_ev_a`` (m, stored
    components, frames one after the other): their forces there, ``forces_dft_ev_a`` (stored components,) the
    DFT ones (the errors are the difference); ``stored`` (m, n_frames): the frames each member stores (those it
    predicted); ``stress_gpa`` (m, n_frames, 6): stress errors, NaN where a frame or the member has none; None
    when no frame has a DFT stress. A member stores stress errors only when it has one on a stored frame (as
    ``FrameErrors.from_records``)."""

    def __init__(
        self,
        frames: FrameErrors,
        energy_ev_atom: np.ndarray,
        forces_ev_a: np.ndarray,
        forces_dft_ev_a: np.ndarray,
        stored: np.ndarray,
        stress_gpa: np.ndarray | None = None,
    ) -> None:
        self.frames, self.energy, self.stored = frames, energy_ev_atom, stored
        self.forces, self.forces_dft = forces_ev_a, forces_dft_ev_a
        self.energy_quanta, energy_fast, self.energy_int16 = _quanta(energy_ev_atom, ENERGY_QUANTUM_EV_ATOM)
        self.force_quanta, force_fast, self.force_int16 = _quanta(forces_ev_a, FORCE_QUANTUM_EV_A, forces_dft_ev_a)
        self.fast = stored.all(axis=1) & energy_fast & force_fast
        self.stress = stress_gpa
        self.has_stress = np.zeros(len(stored), dtype=bool)
        if stress_gpa is not None:
            self.has_stress = (stored & np.isfinite(stress_gpa).all(axis=2)).any(axis=1)
        # the shared arrays as to_details writes them, before and after the errors (every member gets copies)
        shared = frames.to_details()
        self.before = {k: shared[k] for k in ("layout", "dataset", "dataset_hash", "index", "n_atoms")}
        self.after = {k: shared[k] for k in ("stored_atoms", "stored_counts") if k in shared}

    def of_member(self, m: int) -> dict[str, Any]:
        """Member ``m``'s ``details["frames"]``, equal to ``to_details`` of its :class:`FrameErrors`."""
        if not self.fast[m]:
            return self._per_frame(m)
        out = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in self.before.items()}
        # astype copies (to int32 too): no member's array is a view of the block's
        out["energy_error_quanta"] = self.energy_quanta[m].astype(np.int16 if self.energy_int16[m] else np.int32)
        out["energy_error_quantum_ev_atom"] = ENERGY_QUANTUM_EV_ATOM
        out["force_error_quanta"] = self.force_quanta[m].astype(np.int16 if self.force_int16[m] else np.int32)
        out["force_error_quantum_ev_a"] = FORCE_QUANTUM_EV_A
        out.update({k: v.copy() for k, v in self.after.items()})
        if self.stress is not None and self.has_stress[m]:  # 150 numbers or so: per member, as to_details does
            out.update(stress_details(self.stress[m]))
        return out

    def _per_frame(self, m: int) -> dict[str, Any]:
        """What the per-frame code stores: ``to_details`` of the member's errors on the frames it predicted."""
        stress = self.stress[m] if self.stress is not None and self.has_stress[m] else None
        errors = replace(
            self.frames,
            energy_error_ev_atom=self.energy[m],
            force_error_ev_a=self.forces[m] - self.forces_dft,
            stress_error_gpa=stress,
        )
        return errors.select(errors.index[self.stored[m]]).to_details()
