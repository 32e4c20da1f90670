import pytest

from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.defects import DefectFormationEnergy

INTERSTITIALS = ("tetrahedral", "hexagonal", "dumbbell")


@pytest.fixture(scope="module")
def sw_64(sw_calc):
    return {d: DefectFormationEnergy(defect=d, size=64).compute(sw_calc) for d in ("vacancy", *INTERSTITIALS)}


def test_sw_vacancy_formation_energy_matches_literature(sw_64):
    # Balamane, Halicioglu & Tiller, PRB 46, 2250 (1992): SW relaxed vacancy 2.82 eV (fixed cell, relaxed ions);
    # tolerance 0.05 eV covers the supercell-size dependence between small fixed cells (we get 2.835 in 64 atoms).
    assert sw_64["vacancy"].values["formation_energy_ev"] == pytest.approx(2.82, abs=0.05)


def test_sw_unrelaxed_vacancy_costs_one_cohesive_energy(sw_64):
    """Removing an atom breaks 4 bonds of -epsilon each while the remaining crystal keeps ideal angles:
    E_f = 4 epsilon - E_coh = E_coh = -E_bulk/atom (4.3366 eV), computed here from the bulk energy itself."""
    details = sw_64["vacancy"].details
    assert details["unrelaxed_formation_energy_ev"] == pytest.approx(-details["bulk_energy_per_atom_ev"], abs=1e-6)
    assert details["unrelaxed_formation_energy_ev"] == pytest.approx(4.3366, abs=1e-3)


def test_sw_interstitial_ordering_and_relaxation(sw_64):
    energies = {d: sw_64[d].values["formation_energy_ev"] for d in INTERSTITIALS}
    # SW orders the self-interstitials <110> dumbbell < tetrahedral < hexagonal: computed here 4.62 < 5.19 < 6.76 eV
    # in 64+1 atoms (215+1: 4.47 < 5.00 < 6.59). SW values recalled from the literature (~4.7, ~5.3, ~7 eV) could
    # not be checked against the papers here, so this asserts the ordering with margins, not the numbers.
    # Every relaxation lowers the energy a lot.
    assert energies["dumbbell"] < energies["tetrahedral"] - 0.3 < energies["hexagonal"] - 1.0
    for d in INTERSTITIALS:
        assert sw_64[d].values["formation_energy_ev"] < sw_64[d].details["unrelaxed_formation_energy_ev"] - 3.0
        assert sw_64[d].details["n_atoms"] == 65


def test_sw_hexagonal_interstitial_is_unstable(sw_calc, sw_64):
    """Symmetric start stays at the (saddle) hexagonal site; broken symmetry lets it fall to the tetrahedral one."""
    rattled = DefectFormationEnergy(defect="hexagonal", size=64, rattle_a=0.03, seed=1).compute(sw_calc)
    assert rattled.values["formation_energy_ev"] == pytest.approx(
        sw_64["tetrahedral"].values["formation_energy_ev"], abs=2e-3
    )


@pytest.mark.slow
def test_sw_vacancy_converges_with_cell_size_at_zero_pressure(sw_calc):
    e64 = DefectFormationEnergy(defect="vacancy", size=64, relax_cell=True).compute(sw_calc)
    e216 = DefectFormationEnergy(defect="vacancy", size=216, relax_cell=True).compute(sw_calc)
    assert e216.details["n_atoms"] == 215
    assert e216.values["formation_energy_ev"] == pytest.approx(e64.values["formation_energy_ev"], abs=0.1)
    # zero-pressure relaxation can only lower the fixed-cell energy of the same start
    fixed = DefectFormationEnergy(defect="vacancy", size=216).compute(sw_calc)
    assert e216.values["formation_energy_ev"] < fixed.values["formation_energy_ev"]


def test_unconverged_relaxation_fails_the_evaluation(sw_calc):
    with pytest.raises(EvaluationError, match="dumbbell cell .65 atoms. did not converge"):
        DefectFormationEnergy(defect="dumbbell", size=64, max_steps=3).compute(sw_calc)


def test_bad_configuration_is_an_input_error():
    with pytest.raises(InputError, match="'defect'"):
        DefectFormationEnergy(defect="split100")
    with pytest.raises(InputError, match="'size'"):
        DefectFormationEnergy(size=65)
    with pytest.raises(InputError, match="'optimizer'"):
        DefectFormationEnergy(optimizer="CG")
