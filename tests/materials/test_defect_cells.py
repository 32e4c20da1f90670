"""Defect cells of the diamond prototype (silicon): the geometry of each named site."""

import numpy as np
import pytest

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials import load_material
from mlipscope.materials.defects import (
    VACANCY_INWARD_FRACTION,
    defect_sites,
    perfect_supercell,
)
from mlipscope.materials.defects import defect_cell as material_defect_cell
from mlipscope.materials.defects import starting_defect_cell as material_starting_defect_cell
from mlipscope.properties.structures import relax, relaxed_bulk

A = 5.431
SI = load_material("si")
DEFECTS = [s.name for s in defect_sites(SI)]


def defect_cell(defect, repeats, a):
    return material_defect_cell(SI, defect, repeats, a)


def starting_defect_cell(defect, repeats, a, **kwargs):
    return material_starting_defect_cell(SI, defect, repeats, a, **kwargs)


def _distances_from(atoms, point):
    """Minimum-image distances of every atom from ``point``, computed from the raw arrays."""
    vectors = atoms.positions - point
    frac = np.linalg.solve(atoms.cell.array.T, vectors.T).T
    return np.linalg.norm(vectors - np.round(frac) @ atoms.cell.array, axis=1)


@pytest.mark.parametrize(("size", "repeats"), [(8, 1), (64, 2), (216, 3)])
def test_repeats_for_size(size, repeats):
    assert SI.repeats_for_size(size) == repeats
    assert len(perfect_supercell(SI, repeats, A)) == size


def test_bad_size_and_defect_name_the_field():
    with pytest.raises(InputError, match="'size'.*64"):
        SI.repeats_for_size(100)
    with pytest.raises(InputError, match="'defect'"):
        defect_cell("octahedral", 2, a=A)


@pytest.mark.parametrize("repeats", [2, 3])
def test_defect_cells_have_one_atom_more_or_less(repeats):
    n = 8 * repeats**3
    counts = {d: len(defect_cell(d, repeats, a=A)) for d in DEFECTS}
    assert counts == {"vacancy": n - 1, "tetrahedral": n + 1, "hexagonal": n + 1, "dumbbell": n + 1}


def test_tetrahedral_site_has_four_bonded_and_six_second_neighbours():
    atoms = defect_cell("tetrahedral", 2, a=A)
    d = np.sort(_distances_from(atoms, atoms.positions[-1]))[1:]  # skip the interstitial itself
    np.testing.assert_allclose(d[:4], np.sqrt(3) / 4 * A, atol=1e-9)
    np.testing.assert_allclose(d[4:10], A / 2, atol=1e-9)
    assert d[10] > A / 2 + 0.1


def test_hexagonal_site_is_centre_of_a_six_ring():
    atoms = defect_cell("hexagonal", 2, a=A)
    d = np.sort(_distances_from(atoms, atoms.positions[-1]))[1:]
    np.testing.assert_allclose(d[:6], np.sqrt(11) / 8 * A, atol=1e-9)  # 2.341 Å
    assert d[6] > d[0] + 0.5
    ring = np.argsort(_distances_from(atoms, atoms.positions[-1]))[1:7]
    centre = atoms.positions[-1]
    offsets = atoms.positions[ring] - centre
    offsets -= np.round(np.linalg.solve(atoms.cell.array.T, offsets.T).T) @ atoms.cell.array
    # a puckered (chair) six-ring about the [111] axis: three atoms a*sqrt(3)/24 above the site, three below
    heights = np.sort(offsets @ (np.ones(3) / np.sqrt(3)))
    np.testing.assert_allclose(heights, np.sqrt(3) / 24 * A * np.array([-1, -1, -1, 1, 1, 1]), atol=1e-9)


def test_dumbbell_pair_shares_the_removed_site_along_110():
    atoms = defect_cell("dumbbell", 2, a=A)
    site = np.array(atoms.info["defect_site"])
    d = _distances_from(atoms, site)
    pair = np.argsort(d)[:2]
    np.testing.assert_allclose(d[pair], 0.44 * A / 2, atol=1e-9)
    axis = atoms.get_distance(pair[0], pair[1], mic=True, vector=True)
    np.testing.assert_allclose(np.abs(axis) / np.linalg.norm(axis), [2**-0.5, 2**-0.5, 0.0], atol=1e-9)
    assert np.sort(d)[2] > 2.0  # no other atom on the site


def test_vacancy_start_pulls_the_four_neighbours_inward():
    ideal = defect_cell("vacancy", 2, a=A)
    site = np.array(ideal.info["defect_site"])
    assert _distances_from(ideal, site).min() == pytest.approx(np.sqrt(3) / 4 * A)
    start = starting_defect_cell("vacancy", 2, a=A, rattle_a=0.0)
    d = np.sort(_distances_from(start, site))
    np.testing.assert_allclose(d[:4], (1 - VACANCY_INWARD_FRACTION) * np.sqrt(3) / 4 * A, atol=1e-9)
    assert d[4] == pytest.approx(A / np.sqrt(2))


def test_relaxed_bulk_sw_lattice_constant(sw_calc):
    # Stillinger & Weber, PRB 31, 5262 (1985): a = 5.431 Å by construction of sigma = 2.0951 Å
    atoms, a = relaxed_bulk(sw_calc, SI, a_guess=5.5)
    assert a == pytest.approx(5.431, abs=0.002)
    assert atoms.get_potential_energy() / len(atoms) == pytest.approx(-4.3366, abs=1e-4)


def test_unconverged_relaxation_is_an_evaluation_error(sw_calc):
    atoms = defect_cell("tetrahedral", 2, a=A)
    with pytest.raises(EvaluationError, match="tetrahedral cell did not converge"):
        relax(atoms, sw_calc, fmax=1e-4, max_steps=2, what="tetrahedral cell")
    atoms = defect_cell("tetrahedral", 2, a=A)
    result = relax(atoms, sw_calc, fmax=1e-4, max_steps=2, raise_on_failure=False)
    assert not result.converged and result.max_force_ev_a > 1e-4
    with pytest.raises(InputError, match="optimizer"):
        relax(atoms, sw_calc, optimizer="CG")
