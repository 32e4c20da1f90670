import pytest

from mlipscope.analysis import AnalysisConfig, load_error_table, run_all
from mlipscope.analysis.canonical import canonical_values, property_category
from mlipscope.analysis.synthetic import SUITE_VALUES, suite_like_error_table
from mlipscope.errors import InputError


def test_one_value_per_property_by_the_documented_rules():
    names = [
        "errors_mlearn_test.energy_rmse_mev_atom",
        "errors_mlearn_test.energy_mae_mev_atom",
        "errors_mlearn_test.energy_offset_removed_rmse_mev_atom",
        "errors_mlearn_test.energy_offset_removed_mae_mev_atom",
        "errors_mlearn_test.force_rmse_ev_a",
        "errors_mlearn_test.force_mae_ev_a",
        "errors_mlearn_test.force_rmse_ev_a.aimd_nvt",
        "errors_mlearn_test.force_mae_ev_a.aimd_nvt",
        "errors_mlearn_test.failed_frame_fraction",
        "re_vacancy.re_f_ev_a",
        "re_vacancy.re_m_ev_a",
        "re_vacancy.re_a",
        "re_vacancy.vector_rmse_ev_a",
        "re_vacancy.vector_mae_ev_a",
        "re_vacancy.frac_df_gt_0p5",
        "re_vacancy.frac_dtheta_gt_15",
        "re_vacancy.n_re_atoms",
        "re_vacancy.force_rmse_ev_a",
        "elastic_perfect.c11_gpa",
        "vacancy_64.formation_energy_ev",
    ]
    kept, dropped = canonical_values(names)
    assert kept == [
        "errors_mlearn_test.energy_rmse_mev_atom",
        "errors_mlearn_test.force_rmse_ev_a",
        "re_vacancy.re_f_ev_a",
        "re_vacancy.re_m_ev_a",
        "re_vacancy.re_a",
        "re_vacancy.force_rmse_ev_a",
        "elastic_perfect.c11_gpa",
        "vacancy_64.formation_energy_ev",
    ]
    assert set(dropped) == set(names) - set(kept)
    assert "errors_mlearn_test.force_rmse_ev_a" in dropped["errors_mlearn_test.force_rmse_ev_a.aimd_nvt"]
    assert "MAE" in dropped["errors_mlearn_test.force_mae_ev_a"]
    assert "raw energy" in dropped["errors_mlearn_test.energy_offset_removed_rmse_mev_atom"]


def test_a_variant_stays_when_its_preferred_value_is_absent():
    names = ["set.force_mae_ev_a", "set.energy_offset_removed_rmse_mev_atom", "re.vector_rmse_ev_a", "prop1", "a.b.c"]
    assert canonical_values(names) == (names, {})


def test_categories():
    assert property_category("re_vacancy.re_a") == "rare-event sets"
    assert property_category("errors_mlearn_test.force_rmse_ev_a") == "dataset energy/force errors"
    assert property_category("vacancy_64.formation_energy_ev") == "defect formation energies"
    assert property_category("eos.bulk_modulus_gpa") == "lattice and equation of state"
    assert property_category("elastic_perfect.bulk_modulus_gpa") == "elastic constants"
    assert property_category("migration_vacancy.barrier_ev") == "migration barriers"
    assert property_category("phonons_perfect.x_ta_thz") == "phonons"
    assert property_category("prop07") == "other"


@pytest.fixture(scope="module")
def suite_table():
    return load_error_table(suite_like_error_table({"ace": 30, "snap": 25, "pod": 5}, seed=1), type_column="type")


def test_multi_property_analyses_see_canonical_values_and_tables_keep_all(suite_table):
    thresholds = {"errors_mlearn_test.force_mae_ev_a": 0.05, "errors_mlearn_test.force_rmse_ev_a": 0.05}
    config = AnalysisConfig(type_column="type", n_bootstrap=20, thresholds=thresholds)
    results = run_all(suite_table, config, show_progress=False)
    assert results.canonical == list(SUITE_VALUES)
    assert set(results.correlation.pearson.columns) == set(SUITE_VALUES)
    assert set(results.pareto.scaled.columns) <= set(SUITE_VALUES)
    assert set(results.prediction.r2.index) == set(SUITE_VALUES)
    assert set(results.thresholds.difficulty["property"]) == set(thresholds)  # the MAE keeps its threshold row
    assert set(results.distributions.summary["property"]) == set(suite_table.properties)
    assert any("21 of 36 values" in note for note in results.notes)


def test_canonical_settings(suite_table):
    every = run_all(
        suite_table, AnalysisConfig(type_column="type", canonical_only=False, n_bootstrap=0), show_progress=False
    )
    assert every.canonical == suite_table.properties and not every.not_canonical
    chosen = ["eos.lattice_constant_a", "errors_mlearn_test.force_mae_ev_a", "elastic_perfect.c11_gpa"]
    named = run_all(
        suite_table, AnalysisConfig(type_column="type", canonical_properties=chosen, n_bootstrap=0), show_progress=False
    )
    assert named.canonical == chosen and list(named.correlation.pearson.columns) == chosen
    with pytest.raises(InputError, match="analysis.canonical_properties"):
        run_all(suite_table, AnalysisConfig(type_column="type", canonical_properties=["nope"]), show_progress=False)
