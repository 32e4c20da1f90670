"""CHGNet's ASE calculator with batched prediction (the :class:`~mlipscope.properties.frames.BatchPredictor`
capability): the fixed-geometry sets (test-set errors, rare-event sets) go through ``CHGNet.predict_graph`` a
batch of graphs at a time instead of one ASE call per frame.

The values are those of ``CHGNetCalculator.calculate`` (the same graph converter, the same unit factors and
float32 products): CHGNet concatenates the graphs of a batch (no padding), so a frame's energy and forces do not
depend on its batch (tested against the per-frame path). This module imports chgnet: only
:func:`mlipscope.foundation_models.chgnet_calculator` loads it, where chgnet is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.stress import full_3x3_to_voigt_6_stress
from chgnet.model.dynamics import CHGNetCalculator
from pymatgen.io.ase import AseAtomsAdaptor

#: frames per ``predict_graph`` call: CHGNet's own default; memory grows with it (graphs of 64 atoms: a few MB)
BATCH_SIZE = 16


class BatchedCHGNetCalculator(CHGNetCalculator):
    """``CHGNetCalculator`` plus ``predict_batch(frames, properties)`` and ``batch_size``."""

    batch_size = BATCH_SIZE

    def predict_batch(self, frames: Sequence[Atoms], properties: Sequence[str]) -> list[dict[str, Any]]:
        """Energy (eV), forces (eV/Å) and, when asked, stress (eV/Å³, Voigt) of each frame, as ``calculate``
        gives them."""
        structures = [AseAtomsAdaptor.get_structure(atoms) for atoms in frames]
        graphs = [self.model.graph_converter(structure) for structure in structures]
        with_stress = "stress" in properties
        predictions = self.model.predict_graph(graphs, task="efs" if with_stress else "ef", batch_size=self.batch_size)
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
