from itertools import combinations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.data.examples import load_example
from mlipscope.errors import InputError
from mlipscope.properties.ranking import EnergyRanking, pair_metrics, polymorph_reference_ev_atom
from mlipscope.properties.suite import build_suite


def test_pair_metrics_on_planted_inversion():
    dft = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    model = np.array([0.0, 0.25, 0.15, 0.3, 0.5])  # one swapped pair (1, 2) out of 10
    m = pair_metrics(model, dft)
    assert m["wrong_order_fraction"] == pytest.approx(0.1)
    assert m["kendall_tau"] == pytest.approx((9 - 1) / 10)
    errors = [abs((model[i] - model[j]) - (dft[i] - dft[j])) * 1000 for i, j in combinations(range(5), 2)]
    assert m["pair_error_mean_mev_atom"] == pytest.approx(np.mean(errors))
    # largest: the swapped pair (1, 2): model 0.25 - 0.15 = +100 meV against DFT 0.1 - 0.2 = -100 meV
    assert m["pair_error_max_mev_atom"] == pytest.approx(200.0)


def test_pair_metrics_is_independent_of_energy_zero():
    dft = np.array([0.3, 0.1, 0.2])
    shifted = pair_metrics(dft + 7.5, dft)
    assert shifted["wrong_order_fraction"] == 0.0
    assert shifted["pair_error_max_mev_atom"] == pytest.approx(0.0, abs=1e-9)
    assert shifted["kendall_tau"] == pytest.approx(1.0)


def _strained_dataset(sw_calc, planted_swap: bool) -> Dataset:
    """Diamond cells at five volumes, DFT label = SW energy (optionally with the labels of two frames swapped)."""
    frames = []
    for a in (5.30, 5.38, 5.43, 5.50, 5.60):
        atoms = bulk("Si", "diamond", a=a, cubic=True)
        atoms.calc = sw_calc
        atoms.info[ENERGY_KEY] = atoms.get_potential_energy()
        atoms.arrays[FORCES_KEY] = atoms.get_forces()
        atoms.info["config_type"] = "strained"
        atoms.calc = None
        frames.append(atoms)
    if planted_swap:
        frames[0].info[ENERGY_KEY], frames[4].info[ENERGY_KEY] = frames[4].info[ENERGY_KEY], frames[0].info[ENERGY_KEY]
    return Dataset(frames, name="strained")


def test_dataset_ranking(sw_calc):
    exact = EnergyRanking(_strained_dataset(sw_calc, False)).compute(sw_calc).values
    assert exact["wrong_order_fraction"] == 0.0 and exact["kendall_tau"] == pytest.approx(1.0)
    assert exact["pair_error_max_mev_atom"] == pytest.approx(0.0, abs=1e-6)
    data = _strained_dataset(sw_calc, True)
    result = EnergyRanking(data, config_types=["strained"]).compute(sw_calc)
    model = np.array(result.details["model_energy_ev_atom"])
    dft = np.array([a.info[ENERGY_KEY] / len(a) for a in data])
    pairs = list(combinations(range(5), 2))
    wrong = sum(np.sign(model[i] - model[j]) != np.sign(dft[i] - dft[j]) for i, j in pairs)
    assert result.values["wrong_order_fraction"] == pytest.approx(wrong / len(pairs))
    assert 0 < wrong < len(pairs)
    assert result.error_metrics == {"wrong_order_fraction", "pair_error_mean_mev_atom", "pair_error_max_mev_atom"}


def test_dataset_selection_too_small_is_an_input_error(sw_calc):
    with pytest.raises(InputError, match="config_types"):
        EnergyRanking(_strained_dataset(sw_calc, False), config_types=["none"]).compute(sw_calc)


def test_reference_table():
    ref = polymorph_reference_ev_atom()
    assert ref["diamond"] == 0.0 and ref["bc8"] == pytest.approx(0.163) and ref["fcc"] == pytest.approx(0.59)
    assert len(ref) == 9


@pytest.mark.slow
def test_sw_polymorphs(sw_calc):
    """SW: lonsdaleite has ideal tetrahedra and only nearest-neighbour bonds, so it is degenerate with diamond;
    every other phase lies above diamond, as in DFT."""
    result = EnergyRanking().compute(sw_calc)
    v = result.values
    assert result.details["failures"] == {}
    assert abs(v["hex_diamond_energy_above_diamond_mev_atom"]) < 0.05
    above = result.details["model_energy_above_ground_state_ev_atom"]
    assert all(e > 0.1 for p, e in above.items() if p not in ("diamond", "hex_diamond"))
    dft = result.details["dft_energy_above_ground_state_ev_atom"]
    names = list(above)
    recomputed = pair_metrics(np.array([above[p] for p in names]), np.array([dft[p] for p in names]))
    assert recomputed == pytest.approx({k: v[k] for k in recomputed})
    assert 0.0 < v["wrong_order_fraction"] < 0.5


def test_pair_metrics_tie_tolerance_leaves_near_ties_out_of_the_order():
    dft = np.array([0.0, 0.00005, 0.1])  # frames 0 and 1: equal to 0.05 meV/atom
    model = np.array([0.001, 0.0, 0.1])  # orders that pair the other way
    assert pair_metrics(model, dft)["wrong_order_fraction"] == pytest.approx(1 / 3)
    tied = pair_metrics(model, dft, tie_tolerance_ev_atom=1e-4)
    assert tied["wrong_order_fraction"] == 0.0
    assert tied["pair_error_max_mev_atom"] == pytest.approx(1.05)  # the tie still counts in the energy errors


class _DFTWithOtherZero(Calculator):
    """A 'model' equal to the frames' DFT labels up to a constant per atom (another energy zero)."""

    implemented_properties = ["energy"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results["energy"] = float(self.atoms.info[ENERGY_KEY]) + 150.0 * len(self.atoms)


def _stf_sets():
    return {p.label: p for p in build_suite("si-full", ["ranking_stacking_faults", "ranking_defect_structures"])}


def test_stf_ranking_sets_are_blind_to_the_energy_zero():
    """The CASTEP cells of the testing framework: a model equal to DFT up to a per-atom constant ranks them exactly."""
    sets = _stf_sets()
    for label, n_frames, n_ties in (("ranking_stacking_faults", 20, 4), ("ranking_defect_structures", 8, 0)):
        result = sets[label].compute(_DFTWithOtherZero())
        assert len(result.details["frames"]) == n_frames and result.details["failures"] == []
        assert result.details["n_ordered_pairs"] == n_frames * (n_frames - 1) // 2 - n_ties
        assert result.values["wrong_order_fraction"] == 0.0
        assert result.values["pair_error_max_mev_atom"] == pytest.approx(0.0, abs=1e-6)
    assert set(sets["ranking_defect_structures"].compute(_DFTWithOtherZero()).details["config_types"]) == {
        "diinter", "GB", "aSi"
    }  # fmt: skip


def test_stf_stacking_fault_ranking_with_sw_matches_a_direct_count(sw_calc):
    """SW energies of the stacking-fault images, counted pair by pair here (CASTEP ties within 0.1 meV/atom out)."""
    prop = _stf_sets()["ranking_stacking_faults"]
    frames = [a for a in load_example("si_stf_test") if a.info["config_type"] == "SF"]
    model, dft = [], []
    for atoms in frames:
        work = atoms.copy()
        work.calc = sw_calc
        model.append(work.get_potential_energy() / len(atoms))
        dft.append(atoms.info[ENERGY_KEY] / len(atoms))
    wrong = ordered = 0
    errors = []
    for i, j in combinations(range(len(frames)), 2):
        errors.append(abs((model[i] - model[j]) - (dft[i] - dft[j])) * 1000.0)
        if abs(dft[i] - dft[j]) > 1e-4:
            ordered += 1
            wrong += (model[i] - model[j]) * (dft[i] - dft[j]) < 0
    values = prop.compute(sw_calc).values
    assert values["wrong_order_fraction"] == pytest.approx(wrong / ordered)
    assert values["pair_error_mean_mev_atom"] == pytest.approx(np.mean(errors))
    assert values["pair_error_max_mev_atom"] == pytest.approx(max(errors))
    assert 0.0 < values["wrong_order_fraction"] < 0.5  # SW gets most of the fault-path order right, not all
