"""CHGNet's ASE calculator with batched prediction (the :class:`~mlipscope.properties.frames.BatchPredictor`
capability): the fixed-geometry sets (test-set errors, rare-event sets) go through ``CHGNet.predict_graph`` a
batch of graphs at a time instead of one ASE call per frame.

The values are those of ``CHGNetCalculator.calculate`` (the same graph converter, the same unit factors and
float32 products): CHGNet concatenates the graphs of a batch (no padding), so a frame's energy and forces do not
depend on its batch (tested against the per-frame path). This module imports chgnet: only
:func:`mlipscope.foundation_models.chgnet_calculator` loads it, where chgnet is installed.

Every call runs on :data:`TORCH_THREADS` torch threads (the caller's count restored after it), as the NNP family
does: on a busy 2-core machine torch's default of one thread per core made CHGNet 10 to 60 times slower (a 63-atom
force call 4.1 s instead of 0.42 s; the Si quick suite 6.4 min instead of 1.2 min with another process on one
core), while on an idle one a single thread costs about 20 % (48 s instead of 40 s; ``benchmarks/foundation_suite.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress
from chgnet.model.dynamics import CHGNetCalculator
from pymatgen.io.ase import AseAtomsAdaptor

#: frames per ``predict_graph`` call: CHGNet's own default; memory grows with it (graphs of 64 atoms: a few MB)
BATCH_SIZE = 16
#: torch intra-op threads of each call (see the module doc)
TORCH_THREADS = 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch threads, then restore the caller's count."""
    threads = torch.get_num_threads()
    if threads == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class BatchedCHGNetCalculator(CHGNetCalculator):
    """``CHGNetCalculator`` plus ``predict_batch(frames, properties)`` and ``batch_size``."""

    batch_size = BATCH_SIZE

    def calculate(self, *args: Any, **kwargs: Any) -> None:
        with torch_threads(TORCH_THREADS):
            super().calculate(*args, **kwargs)

    def predict_batch(self, frames: Sequence[Atoms], properties: Sequence[str]) -> list[dict[str, Any]]:
        """Energy (eV), forces (eV/Å) and, when asked, stress (eV/Å³, Voigt) of each frame, as ``calculate``
        gives them."""
        structures = [AseAtomsAdaptor.get_structure(atoms) for atoms in frames]
        with_stress = "stress" in properties
        with torch_threads(TORCH_THREADS):
            graphs = [self.model.graph_converter(structure) for structure in structures]
            task = "efs" if with_stress else "ef"
            predictions = self.model.predict_graph(graphs, task=task, batch_size=self.batch_size)
        if isinstance(predictions, dict):  # chgnet returns a lone dict for a single graph
            predictions = [predictions]
        out = []
        for structure, prediction in zip(structures, predictions, strict=True):
            extensive_factor = len(structure) if self.model.is_intensive else 1  # as calculate(): eV/atom -> eV
            results: dict[str, Any] = {
                "energy": float(prediction["e"] * extensive_factor),
                "forces": np.asarray(prediction["f"], dtype=float),
            }
            if with_stress:  # calculate() keeps CHGNet's 3x3 stress (GPa) times stress_weight; get_stress() -> Voigt
                stress_3x3 = np.asarray(prediction["s"] * self.stress_weight, dtype=float)
                results["stress"] = full_3x3_to_voigt_6_stress(stress_3x3)
            out.append(results)
        return out
