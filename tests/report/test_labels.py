import pytest

from mlipscope.materials import reference_dir
from mlipscope.properties.dimer import _UNITS as DIMER_UNITS
from mlipscope.properties.phonons import _THERMO_UNITS
from mlipscope.properties.ranking import _UNITS as RANKING_UNITS
from mlipscope.properties.references import load_study_mapping
from mlipscope.report.labels import (
    column_units,
    display_name,
    error_label,
    value_unit,
    wrap_label,
)


@pytest.mark.parametrize(
    ("name", "unit"),
    [
        ("elastic_perfect.c11_gpa", "GPa"),
        ("vacancy_64.formation_energy_ev", "eV"),
        ("eos.lattice_constant_a", "Å"),
        ("re_vacancy.re_f_ev_a", "eV/Å"),
        ("re_vacancy.re_a", "1"),  # ends in _a but is a normalised area
        ("re_vacancy.frac_df_gt_0p5", "1"),
        ("re_vacancy.n_re_atoms", "1"),
        ("errors_mlearn_test.energy_rmse_mev_atom", "meV/atom"),
        ("errors_mlearn_test.force_rmse_ev_a.bulk_aimd", "eV/Å"),  # per config type: the type after the key
        ("dimer.Si-Si.r_min_a", "Å"),  # dimer: the pair before the key
        ("surface_100.surface_energy_j_m2", "J/m²"),
        ("phonons_perfect.gamma_lto_thz", "THz"),
        ("thermal_expansion.alpha_300k_ppm_k", "10⁻⁶/K"),
        ("md_survival.failure_rate_per_atom_ps", "1/(atom·ps)"),
        ("md_survival.stable_up_to_k", "K"),
        ("diffusion_vacancy.d_1000k", "cm2/s"),
        ("diffusion_vacancy.log10_prefactor_cm2_s", "log10(cm2/s)"),
        ("prop00_g0.error", ""),  # a user's own column: unknown
        ("hex_Ef", "eV"),  # the study's own keys: the mapping file's unit
        ("Vacancy_RE_E", "meV/atom"),
        ("L1_mean", "eV/atom?"),  # "eV/atom (probably)"
        ("bulk_entropy", ""),  # "not stated"
    ],
)
def test_value_unit_from_the_key_suffix_or_the_study_mapping(name, unit):
    assert value_unit(name) == unit


def test_declared_units_win_over_the_suffix():
    assert value_unit("x.energy_ev", {"x.energy_ev": "meV"}) == "meV"
    assert value_unit("x.energy_ev", {"other": "K"}) == "eV"


def test_suffix_units_agree_with_what_properties_declare():
    # the units the properties declare, next to the keys they declare them for (module tables, not the suffixes)
    declared = {**_THERMO_UNITS, **RANKING_UNITS, **DIMER_UNITS}
    for key, unit in declared.items():
        assert value_unit(f"label.{key}") == unit, key
    # and the study mapping's units of its 46 mapped keys (written by hand, independently of the suffix table)
    entries = load_study_mapping(reference_dir() / "liu_mo_2024_mapping.yaml")
    mapped = [e for e in entries if e.value_name]
    assert len(mapped) == 46
    for entry in mapped:
        expected = (entry.value_unit or entry.unit).replace("(probably)", "").strip()
        assert value_unit(entry.value_name) == expected, entry.key


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("elastic_perfect.c11_gpa", "perfect C11 (GPa)"),
        ("elastic_dumbbell.c44_gpa", "dumbbell C44 (GPa)"),
        ("vacancy_64.formation_energy_ev", "vacancy 64 formation energy (eV)"),
        ("eos.bulk_modulus_gpa", "EOS bulk modulus (GPa)"),
        ("re_vacancy.re_f_ev_a", "vacancy RE_F (eV/Å)"),
        ("re_interstitial.re_a", "interstitial RE_A"),
        ("errors_mlearn_test.force_rmse_ev_a", "mlearn test force RMSE (eV/Å)"),
        ("migration_vacancy.barrier_ev", "vacancy migration barrier (eV)"),
        ("phonons_perfect.gamma_lto_thz", "phonon Γ LTO (THz)"),
        ("phonons_perfect.x_ta_thz", "phonon X TA (THz)"),
        ("surface_111.surface_energy_j_m2", "(111) surface energy (J/m²)"),
        ("melting_point.melting_point_k", "melting point (K)"),
        ("diffusion_vacancy.log10_prefactor_cm2_s", "vacancy diffusion log10 D0 (cm2/s)"),
        ("hex_Ef", "hexagonal 64 formation energy (eV)"),
        ("super_c11", "perfect C11 (GPa)"),
        ("Vacancy_enhanced_E", "Vacancy enhanced E (meV/atom)"),  # two study keys share its value: key's words
        ("prop00_g0.error", "prop00_g0.error"),  # unknown: as written
    ],
)
def test_display_name(name, shown):
    assert display_name(name) == shown


def test_display_names_of_the_study_properties_are_distinct_and_free_of_raw_keys():
    entries = load_study_mapping(reference_dir() / "liu_mo_2024_mapping.yaml")
    for names in ([e.key for e in entries], sorted({e.value_name for e in entries if e.value_name})):
        shown = [display_name(n) for n in names]
        assert len(set(shown)) == len(names)
        assert not [s for s in shown if "_gpa" in s or "_ev" in s or "." in s.split("(")[0]]


def test_wrap_label_keeps_the_unit_on_one_line():
    wrapped = wrap_label("mlearn test energy RMSE (meV/atom)", 14)
    assert wrapped.split("\n") == ["mlearn test", "energy RMSE", "(meV/atom)"]
    assert wrap_label("short", 14) == "short"


def test_error_label_and_column_units():
    assert error_label("elastic_perfect.c11_gpa") == "perfect C11 |error| (GPa)"
    assert error_label("re_vacancy.re_a") == "vacancy RE_A |error|"
    columns = ["group", "n_models", "median_abs_ea_error_ev", "md_survival.stable_up_to_k", "md_survival.n_runs"]
    assert column_units(columns) == {"median_abs_ea_error_ev": "eV", "md_survival.stable_up_to_k": "K"}
