"""The seed study's acceptable errors (Liu & Mo 2024) as the Si thresholds: every study key mapped to a value the
properties compute (or said why not), the loaded thresholds equal to the published values (unit conversions
included) with their source, and no mlipscope default left for a mapped value."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.properties.diffusion import DefectDiffusion
from mlipscope.properties.references import load_study_mapping
from mlipscope.properties.suite import build_suite
from mlipscope.runner.benchmark import load_reference

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "src" / "mlipscope" / "package_data" / "reference"
MAPPING = REFERENCE_DIR / "liu_mo_2024_mapping.yaml"
STUDY_FILE = REFERENCE_DIR / "liu_mo_2024_acceptable_errors.yaml"
DOC = Path(__file__).resolve().parents[2] / "docs" / "liu_mo_2024_properties.md"
SOURCE_PREFIX = "Liu & Mo, npj Comput. Mater. 2024, acceptable errors published with the study's data ("
VALIDATION_LABEL = "errors_enhanced_validation"


class FlatCalculator(Calculator):
    """Zero energy, forces and stress: every relaxation converges at once, so a property's value names are cheap."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n_atoms = len(self.atoms)
        self.results = {"energy": 0.0, "free_energy": 0.0, "forces": np.zeros((n_atoms, 3)), "stress": np.zeros(6)}


def _arrhenius_temperature(self, start, sites, temperature, *args):
    """Stands in for the MD of one temperature: an exact Arrhenius diffusivity (Ea 0.3 eV, D0 1e-3 cm²/s)."""
    d_cm2_s = 1e-3 * math.exp(-0.3 / (8.617333e-5 * temperature))
    summary = {"temperature_k": temperature, "outcome": "ok", "reason": "", "n_hops": 100}
    return {**summary, "diffusivity_cm2_s": d_cm2_s, "diffusivity_stderr_cm2_s": 0.05 * d_cm2_s}, []


@pytest.fixture(scope="module")
def entries():
    return load_study_mapping(MAPPING)


@pytest.fixture(scope="module")
def si_full_units(entries, sw_calc) -> dict[str, str]:
    """Value name -> unit of every value the si-full properties that the mapping names produce (computed: RE sets
    with their stored Γ-only forces, EOS with SW, the rest with a flat potential, diffusion with its MD replaced by
    an exact Arrhenius law)."""
    labels = {e.value_name.split(".")[0] for e in entries if e.value_name}
    suite = {p.label: p for p in build_suite("si-full", material="si")}
    assert labels <= set(suite), sorted(labels - set(suite))
    flat = FlatCalculator()
    results = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DefectDiffusion, "_temperature", _arrhenius_temperature)
        for label in sorted(labels):
            prop = suite[label]
            if label.startswith("re_"):
                results.append(prop.cheaper_setting_result("forces_K1"))
            elif label.startswith("elastic_"):
                prop.n_strains = 2  # the value names do not depend on it
                results.append(prop.compute(flat))
            elif label.startswith("diffusion_"):
                prop.engine, prop.neb_check = "ase", False
                results.append(prop.compute(flat))
            else:
                results.append(prop.compute(sw_calc if label == "eos" else flat))
    return {f"{r.label}.{key}": unit for r in results for key, unit in r.units.items()}


def test_every_study_key_is_mapped_to_a_computed_value_or_says_why(entries, si_full_units):
    study = yaml.safe_load(STUDY_FILE.read_text())
    assert len(study) == 64 and [e.key for e in entries] == list(study)
    mapped = [e for e in entries if e.value_name]
    unmapped = [e for e in entries if not e.value_name]
    for entry in mapped:
        assert entry.value_name in si_full_units, entry.key
        assert entry.differences and entry.meaning, entry.key
    assert {e.key for e in unmapped} == {f"L{i}_{m}" for i in range(1, 5) for m in ("frequency", "mean", "max")} | {
        f"{cell}_{q}" for cell in ("bulk", "vacancy") for q in ("free_energy", "entropy", "heat_capacity")
    }
    assert all(len(e.unmapped_reason) > 40 for e in unmapped)
    assert (len(mapped), len(unmapped)) == (46, 18)
    # only the enhanced validation sets share a value name (one combined set in mlipscope), and the mapping says why
    names = [e.value_name for e in mapped]
    shared = {n for n in names if names.count(n) > 1}
    assert shared == {f"{VALIDATION_LABEL}.energy_rmse_mev_atom", f"{VALIDATION_LABEL}.force_rmse_ev_a"}
    assert all(
        "combined set" in e.differences and VALIDATION_LABEL in e.differences for e in mapped if e.value_name in shared
    )


def test_study_units_are_the_units_mlipscope_reports_after_conversion(entries, si_full_units):
    for entry in (e for e in entries if e.value_name):
        study_unit = entry.unit.removesuffix(" (probably)")
        reported = si_full_units[entry.value_name]
        if entry.factor == 1.0:
            assert study_unit == reported, entry.key
        else:
            assert (entry.value_unit, reported) == ("eV/atom", "eV/atom") and study_unit == "meV/atom", entry.key
            assert entry.factor == 1e-3


def test_si_thresholds_are_the_published_values_with_their_source(entries):
    reference = load_reference("material", "si")
    study = yaml.safe_load(STUDY_FILE.read_text())
    for entry in (e for e in entries if e.value_name):
        value, source = reference.thresholds[entry.value_name]
        assert value == pytest.approx(study[entry.key] * entry.factor, rel=1e-12), entry.key
        assert source.startswith(SOURCE_PREFIX) and re.search(rf"\b{entry.key}\b", source), (entry.key, source)
        assert entry.value_name in reference.published_thresholds
    assert reference.thresholds["re_vacancy.energy_rmse_ev_atom"] == (
        pytest.approx(0.015),
        f"{SOURCE_PREFIX}SI Table S13): Vacancy_RE_E (15 meV/atom = 0.015 eV/atom)",
    )
    assert reference.thresholds[f"{VALIDATION_LABEL}.energy_rmse_mev_atom"][0] == 15.0
    assert reference.thresholds["vacancy_64.formation_energy_ev"] == (0.581713, f"{SOURCE_PREFIX}SI Table S13): vac_Ef")
    assert "124-model MD set" in reference.thresholds["diffusion_interstitial.activation_energy_ev"][1]


def test_no_mlipscope_default_remains_for_a_mapped_value(entries):
    mapped = {e.value_name for e in entries if e.value_name}
    file_thresholds = yaml.safe_load((REFERENCE_DIR / "si_dft.yaml").read_text())["thresholds"]
    assert not mapped & set(file_thresholds)
    reference = load_reference("material", "si")
    for name, (_, source) in reference.thresholds.items():
        if name in mapped:
            assert "default" not in source, name
        else:  # every value the study has no acceptable error for says it is mlipscope's own
            assert "mlipscope default" in source, name
    # the 216-atom cells keep the default: the study has none for them
    assert "mlipscope default" in reference.thresholds["vacancy_216.formation_energy_ev"][1]


def test_shipped_copy_is_the_shared_study_file(shared_data):
    shared = yaml.safe_load((shared_data / "reference" / "liu_mo_2024_acceptable_errors.yaml").read_text())
    assert yaml.safe_load(STUDY_FILE.read_text()) == shared
    assert STUDY_FILE.read_text().startswith("# Shipped copy of the project's shared data file")


def test_64_atom_vacancy_reference_is_the_63_atom_cell_value(shared_data):
    reference = load_reference("material", "si")
    path = json.loads((shared_data / "reference" / "model-CASTEP_ASE-test-vacancy-path-properties.json").read_text())
    value, source = reference.values["vacancy_64.formation_energy_ev"]
    assert value == round(path["vacancy_path"][0], 3) and "63-atom cell" in source
    assert reference.values["vacancy_216.formation_energy_ev"][0] == 3.673
    for defect in ("dumbbell", "hexagonal", "tetrahedral"):
        assert "217-atom cell value" in reference.values[f"{defect}_64.formation_energy_ev"][1]


def test_doc_table_lists_every_study_key_with_its_value_and_threshold(entries):
    rows = {
        line.split("|")[1].strip().strip("`"): line for line in DOC.read_text().splitlines() if line.startswith("| `")
    }
    for entry in entries:
        row = rows[entry.key]
        assert (f"`{entry.value_name}`" if entry.value_name else "none") in row, entry.key
        assert f"{entry.acceptable_error:g}" in row, entry.key
