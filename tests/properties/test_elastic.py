import numpy as np
import pytest

from mlipscope.errors import InputError
from mlipscope.properties.elastic import ElasticConstants, cubic_averages, strain_matrix

# Relaxed-ion elastic constants of Stillinger-Weber Si (PRB 31, 5262 (1985) parameters), as tabulated in comparative
# studies of Si potentials, e.g. Balamane, Halicioglu & Tiller, PRB 46, 2250 (1992):
# C11 = 151.4, C12 = 76.4, C44 = 56.4 GPa, B = (C11 + 2 C12)/3 = 101.4 GPa.


@pytest.fixture(scope="module")
def sw_perfect(sw_calc):
    return ElasticConstants(cell="perfect", size=8).compute(sw_calc)


def test_sw_relaxed_ion_constants_match_literature(sw_perfect):
    v = sw_perfect.values
    assert v["c11_gpa"] == pytest.approx(151.4, abs=1.5)
    assert v["c12_gpa"] == pytest.approx(76.4, abs=1.5)
    assert v["c44_gpa"] == pytest.approx(56.4, abs=1.5)
    assert v["bulk_modulus_gpa"] == pytest.approx(101.4, abs=1.0)
    assert v["lattice_constant_a"] == pytest.approx(5.431, abs=0.002)


def test_constants_are_slopes_of_the_stored_stress_strain_points(sw_perfect):
    """Refit C11, C12 (xx strain) and C44 (engineering yz strain) from the raw stresses in the details."""
    strains = np.array(sw_perfect.details["strains"])
    stresses = np.array(sw_perfect.details["stresses_gpa"])  # components (xx, yz) x strains x Voigt stress
    assert sw_perfect.details["voigt_components"] == [1, 4]
    c11 = np.polyfit(strains, stresses[0, :, 0], 1)[0]
    c12 = np.polyfit(strains, 0.5 * (stresses[0, :, 1] + stresses[0, :, 2]), 1)[0]
    c44 = np.polyfit(strains, stresses[1, :, 3], 1)[0]
    assert [c11, c12, c44] == pytest.approx([sw_perfect.values[k] for k in ("c11_gpa", "c12_gpa", "c44_gpa")], abs=1e-6)
    # a cubic crystal under xx strain carries no shear stress; under yz strain no normal stress
    assert np.abs(stresses[0, :, 3:]).max() < 1e-3 and np.abs(stresses[1, :, :3]).max() < 1e-3


def test_clamped_ions_stiffen_c44_only(sw_calc, sw_perfect):
    clamped = ElasticConstants(cell="perfect", size=8, relax_ions=False).compute(sw_calc).values
    # internal relaxation of the two fcc sublattices matters only for shear: C11, C12 are unchanged
    assert clamped["c11_gpa"] == pytest.approx(sw_perfect.values["c11_gpa"], abs=0.05)
    assert clamped["c12_gpa"] == pytest.approx(sw_perfect.values["c12_gpa"], abs=0.05)
    assert clamped["c44_gpa"] > sw_perfect.values["c44_gpa"] + 40.0


def test_vacancy_cell_averages_its_full_matrix(sw_calc):
    result = ElasticConstants(cell="vacancy", size=64, n_strains=2).compute(sw_calc)
    c = np.array(result.details["c_matrix_gpa"], dtype=float)
    assert result.details["n_atoms"] == 63 and result.details["voigt_components"] == [1, 2, 3, 4, 5, 6]
    assert result.values["c11_gpa"] == pytest.approx(np.trace(c[:3, :3]) / 3)
    assert result.values["c44_gpa"] == pytest.approx(np.trace(c[3:, 3:]) / 3)
    assert np.allclose(c, c.T, atol=1.0)  # elastic matrix is symmetric up to fit noise
    # the reconstructed SW vacancy pulls its neighbours in: the relaxed cell contracts and softens
    assert result.values["lattice_constant_a"] < 5.431 - 0.01
    assert result.values["c11_gpa"] > 100.0 and result.values["c44_gpa"] > 40.0


def test_strain_matrix_and_cubic_averages():
    eps = strain_matrix(3, 0.02)
    assert eps[1, 2] == eps[2, 1] == 0.01 and np.count_nonzero(eps) == 2
    c = np.full((6, 6), np.nan)
    c[:3, :3] = [[1.0, 4.0, 5.0], [4.0, 2.0, 6.0], [5.0, 6.0, 3.0]]
    c[3, 3], c[4, 4], c[5, 5] = 7.0, 8.0, 9.0
    assert cubic_averages(c) == {"c11": 2.0, "c12": 5.0, "c44": 8.0}


def test_bad_configuration_is_an_input_error():
    with pytest.raises(InputError, match="'defect'.*octahedral"):
        ElasticConstants(cell="octahedral")
    with pytest.raises(InputError, match="'size'"):
        ElasticConstants(size=100)
    with pytest.raises(InputError, match="'strain'"):
        ElasticConstants(strain=0.2)
