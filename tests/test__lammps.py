"""LAMMPS access: which pair styles are primed with a dense cell, and that cell."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from mlipscope._lammps import PRIMING_SPACING_A, needs_priming, priming_cell


def test_only_pod_pair_styles_are_primed():
    assert needs_priming(["pair_style pod", "pair_coeff * * p.pod c.pod Si"])
    assert needs_priming(["pair_style hybrid/overlay pod zbl 1.0 2.0", "pair_coeff * * pod p.pod c.pod Si"])
    assert not needs_priming(["pair_style sw", "pair_coeff * * Si.sw Si"])
    assert not needs_priming(["pair_style snap", "pair_coeff * * pod.snapcoeff pod.snapparam Si"])


@pytest.mark.parametrize("elements", [["Si"], ["In", "P"], ["Li", "Ge", "Mo", "Ni", "Cu", "Si", "In", "P", "Ti"]])
def test_priming_cell_is_dense_and_holds_every_element(elements):
    cell = priming_cell(elements)
    assert set(cell.get_chemical_symbols()) == set(elements)
    side = math.ceil(len(elements) ** (1 / 3) - 1e-9)
    assert len(cell) == side**3
    # nearest neighbours at the spacing; within 5 Å + LAMMPS's 2 Å skin every atom has the 80 lattice vectors n with
    # 0 < |n|^2 <= 7 (in units of the spacing: 6 + 12 + 8 + 6 + 24 + 24) as neighbour candidates
    assert neighbor_list("d", cell, 7.0).min() == pytest.approx(PRIMING_SPACING_A)
    counts = np.bincount(neighbor_list("i", cell, 7.0), minlength=len(cell))
    assert counts.tolist() == [80] * len(cell)
