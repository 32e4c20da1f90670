"""The DFT harmonic thermodynamics of Si in si_dft.yaml, re-derived from the shipped files of phonopy's Si example."""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import phonopy
import pytest
import yaml

from mlipscope.properties.phonons import Phonons, high_symmetry_frequencies, thermal_per_atom

REFERENCE = Path(str(files("mlipscope") / "package_data" / "reference"))
EXAMPLE = REFERENCE / "phonopy_si_example"
#: git blob ids of the verbatim files in github.com/phonopy/phonopy example/Si
UPSTREAM_BLOBS = {
    "POSCAR-unitcell": "dadaffd773e6ee62848a91baffbf60d141871b57",
    "phonopy_disp.yaml": "4ff4b3c62a69b655f4ce3fdb6df57c36772ec8de",
}
THERMO_KEYS = ("free_energy_ev_atom", "entropy_j_k_mol", "heat_capacity_j_k_mol")


@pytest.fixture(scope="module")
def dft_phonon():
    return phonopy.load(
        EXAMPLE / "phonopy_disp.yaml", force_sets_filename=EXAMPLE / "FORCE_SETS", produce_fc=True, log_level=0
    )


@pytest.fixture(scope="module")
def si_values():
    return yaml.safe_load((REFERENCE / "si_dft.yaml").read_text())["values"]


def test_shipped_inputs_are_the_upstream_files():
    for name, blob in UPSTREAM_BLOBS.items():
        data = (EXAMPLE / name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, name
    assert "Redistributions of source code must retain" in (EXAMPLE / "LICENSE").read_text()


def test_yaml_values_rederive_from_the_shipped_files(dft_phonon, si_values):
    """The property's own settings (300 K, 16^3 Γ-centred mesh) on the DFT force constants give the yaml values."""
    prop = Phonons("perfect")
    assert prop.temperature_k == 300.0 and prop.mesh == (16, 16, 16)
    thermo = thermal_per_atom(dft_phonon, prop.mesh, prop.temperature_k)
    for key, digits in zip(THERMO_KEYS, (5, 3, 3), strict=True):
        entry = si_values[f"phonons_perfect.{key}"]
        assert thermo[key] == pytest.approx(entry["value"], abs=0.51 * 10.0**-digits), key
        assert "phonopy" in entry["source"] and "PBE" in entry["source"]


def test_dft_force_constants_give_the_castep_frequencies(dft_phonon, si_values):
    """Sanity check of the force constants: VASP PBE Γ/X/L frequencies within 0.1 THz of the CASTEP PW91 ones."""
    freqs = high_symmetry_frequencies(dft_phonon, diamond_names=True)
    assert freqs["gamma_acoustic_max_abs_thz"] < 1e-3
    for key, value in freqs.items():
        if key != "gamma_acoustic_max_abs_thz":
            assert value == pytest.approx(si_values[f"phonons_perfect.{key}"]["value"], abs=0.1), key


def test_heat_capacity_agrees_with_the_castep_quasi_harmonic_curve(dft_phonon, shared_data):
    """An independent DFT number: the GAP-18 framework's CASTEP PW91 QHA heat capacity (eV/K per 2-atom cell)."""
    qha = json.loads((shared_data / "reference" / "model-CASTEP_ASE-test-qha_diamond-properties.json").read_text())
    ev_k_cell_to_j_k_mol_atom = 96485.33212 / 2
    for t_k in (100.0, 300.0, 600.0):
        castep = np.interp(t_k, qha["qha_temperature"], qha["qha_heat_capacity"]) * ev_k_cell_to_j_k_mol_atom
        assert thermal_per_atom(dft_phonon, (16, 16, 16), t_k)["heat_capacity_j_k_mol"] == pytest.approx(
            castep, rel=0.03
        )


def test_vacancy_cell_thermodynamics_say_why_there_is_no_reference(si_values):
    not_available = yaml.safe_load((REFERENCE / "si_dft.yaml").read_text())["not_available"]
    assert "phonons_vacancy.*" in not_available
    assert not any(k.startswith("phonons_vacancy.") for k in si_values)
