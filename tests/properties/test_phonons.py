"""Phonons with Stillinger–Weber Si, checked against quantities computed here from raw forces and frequencies."""

import numpy as np
import pytest
from ase.build import bulk
from scipy import constants

from mlipscope.errors import InputError
from mlipscope.materials import load_material
from mlipscope.materials.defects import starting_defect_cell
from mlipscope.properties.phonons import Phonons, dispersion_figure, phonopy_with_forces
from mlipscope.properties.structures import relax, relaxed_bulk

R_J_K_MOL = constants.R
#: sqrt(eV / (Å² amu)) in rad/s
OMEGA_UNIT = np.sqrt(constants.e / 1e-20 / constants.atomic_mass)
H_EV_THZ = constants.h / constants.e * 1e12  # h in eV per THz
KB_EV_K = constants.k / constants.e


@pytest.fixture(scope="module")
def perfect(sw_calc):
    return Phonons("perfect").compute(sw_calc)


@pytest.fixture(scope="module")
def sw_a(sw_calc):
    return relaxed_bulk(sw_calc, load_material("si"))[1]


def test_gamma_optical_matches_frozen_phonon(perfect, sw_calc, sw_a):
    """Γ optical mode: the two fcc sublattices move against each other; with F = -K u on the displaced atom,
    ω² = 2K/m (relative coordinate of two equal masses)."""
    cell = bulk("Si", "diamond", a=sw_a)
    u = 0.005
    forces = []
    for sign in (1, -1):
        shifted = cell.copy()
        shifted.positions[1, 0] += sign * u
        shifted.calc = sw_calc
        forces.append(shifted.get_forces())
    k_ev_a2 = -(forces[0][1, 0] - forces[1][1, 0]) / (2 * u)
    assert forces[0][0, 0] == pytest.approx(-forces[0][1, 0], rel=1e-9)  # momentum conservation
    nu_thz = np.sqrt(2 * k_ev_a2 / cell.get_masses()[0]) * OMEGA_UNIT / (2 * np.pi) / 1e12
    assert perfect.values["gamma_lto_thz"] == pytest.approx(nu_thz, rel=2e-3)
    assert 16.0 < nu_thz < 19.0  # SW overestimates the DFT/experimental 15.1-15.5 THz


def test_mode_labels_and_ordering(perfect):
    v = perfect.values
    assert v["x_ta_thz"] < v["x_la_lo_thz"] < v["x_to_thz"] < v["gamma_lto_thz"]
    assert v["l_ta_thz"] < v["l_la_thz"] < v["l_lo_thz"] < v["l_to_thz"] < v["gamma_lto_thz"]
    assert v["l_ta_thz"] < v["x_ta_thz"]  # flat TA branch: lower at L than at X, as in Si
    assert perfect.details["n_displacements"] == 1  # diamond: one symmetry-distinct displacement
    gamma_freqs = np.array(perfect.details["band_frequencies_thz"][0][0])
    assert np.abs(np.sort(gamma_freqs)[:3]).max() < 0.02  # acoustic sum rule


def test_thermodynamics_match_mode_sums(perfect, sw_calc, sw_a):
    """Cv, S and F per atom recomputed from phonopy's mesh frequencies with the textbook harmonic formulas."""
    unit = bulk("Si", "diamond", a=sw_a, cubic=True)
    phonon = phonopy_with_forces(unit, sw_calc, (2, 2, 2), "F", 0.01, 1e-4)
    phonon.run_mesh((16, 16, 16), is_gamma_center=True)
    mesh = phonon.get_mesh_dict()
    freqs, weights = mesh["frequencies"], mesh["weights"]
    keep = freqs > 1e-3
    x = H_EV_THZ * freqs[keep] / (KB_EV_K * 300.0)
    w = np.broadcast_to(weights[:, None], freqs.shape)[keep] / (weights.sum() * 2)  # per atom (2 per cell)
    cv = R_J_K_MOL * np.sum(w * x**2 * np.exp(x) / np.expm1(x) ** 2)
    s = R_J_K_MOL * np.sum(w * (x / np.expm1(x) - np.log1p(-np.exp(-x))))
    f = np.sum(w * (0.5 * H_EV_THZ * freqs[keep] + KB_EV_K * 300.0 * np.log1p(-np.exp(-x))))
    assert perfect.values["heat_capacity_j_k_mol"] == pytest.approx(cv, rel=1e-4)
    assert perfect.values["entropy_j_k_mol"] == pytest.approx(s, rel=1e-4)
    assert perfect.values["free_energy_ev_atom"] == pytest.approx(f, rel=1e-4)
    # experiment: Cv(300 K) of Si ~19.8 J/K/mol; SW's stiffer optical modes give a little less
    assert 17.5 < cv < 19.8


def test_heat_capacity_reaches_dulong_petit(sw_calc):
    """Classical limit: Cv -> 3R; at 3000 K the leading correction is -3R<x²>/12 ~ -0.5 %."""
    cv = Phonons("perfect", temperature_k=3000.0, mesh=(8, 8, 8)).compute(sw_calc).values["heat_capacity_j_k_mol"]
    assert 0.99 * 3 * R_J_K_MOL < cv < 3 * R_J_K_MOL


def test_vacancy_cell(perfect, sw_calc, sw_a):
    result = Phonons("vacancy").compute(sw_calc)
    assert result.details["n_atoms"] == 63
    assert result.details["n_displacements"] < 30  # Td symmetry used (378 without)
    # the symmetric relaxation finds the same state as a free relaxation from a rattled start
    free = starting_defect_cell(load_material("si"), "vacancy", 2, a=sw_a)
    assert result.details["relaxed_energy_ev"] == pytest.approx(relax(free, sw_calc).energy_ev, abs=2e-3)
    v = result.values
    assert v["heat_capacity_j_k_mol"] == pytest.approx(perfect.values["heat_capacity_j_k_mol"], rel=0.03)
    assert 0.0 < v["vacancy_formation_entropy_kb"] < 10.0  # positive: softer modes around the vacancy
    assert result.details["min_mesh_frequency_thz"] > -0.1


def test_dispersion_figure(perfect, tmp_path):
    fig = dispersion_figure({"SW": perfect}, tmp_path / "disp.png")
    # the fcc-lattice path of the cell's symmetry (Setyawan-Curtarolo, as ASE gives it), a break marked K|U
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["Γ", "X", "W", "K", "Γ", "L", "U", "W", "L", "K|U", "X"]
    assert (tmp_path / "disp.png").stat().st_size > 10_000


def test_bad_configuration_is_an_input_error():
    with pytest.raises(InputError, match="cell"):
        Phonons("interstitial")
    with pytest.raises(InputError, match="supercell"):
        Phonons("vacancy", supercell=(2, 2, 3))
