"""The shipped datasets (silicon and the mlearn elements): all load, labels have the right shapes, RE extras kept."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, STRESS_KEY, Dataset
from mlipscope.data.examples import EXAMPLES, example_path, load_example
from mlipscope.errors import InputError

N_FRAMES = {
    "si_mlearn_train": 214,
    "si_mlearn_test": 25,
    "si_original_train": 219,
    "si_interstitial_train": 219,
    "si_vacancy_train": 219,
    "si_di_interstitial_train": 219,
    "si_tetra_interstitial_train": 219,
    "si_vacancy_re_test": 100,
    "si_interstitial_re_test": 100,
    "si_enhanced_validation": 50,
    "si_stf_test": 28,
    "ge_mlearn_train": 228,
    "ge_mlearn_test": 25,
    "mo_mlearn_train": 194,
    "mo_mlearn_test": 23,
    "li_mlearn_train": 241,
    "li_mlearn_test": 29,
    "cu_mlearn_test": 31,
    "ni_mlearn_test": 31,
}
GROUND_STATE_EV_ATOM = {"Si": -5.425, "Ge": -4.494, "Mo": -10.852, "Li": -1.899, "Cu": -4.101, "Ni": -5.780}
#: sets of another DFT code, with their own energy zero (CASTEP PW91, diamond Si)
OTHER_ZERO_EV_ATOM = {"si_stf_test": -163.17}
SHARED_OTHER = Path(__file__).resolve().parents[3] / "shared" / "data" / "other"


@pytest.mark.skipif(not SHARED_OTHER.is_dir(), reason="needs ../shared/data/other beside the project")
def test_mlearn_copies_are_the_corrected_shared_files():
    """The Mo/Ni/Cu shear stresses were corrected in the shared data on 2026-12-01: the shipped copies must be
    byte-identical to the shared files."""
    for name, info in EXAMPLES.items():
        if info.folder == "mlearn":
            assert example_path(name).read_bytes() == (SHARED_OTHER / info.filename).read_bytes(), name


def test_registry_names_every_shipped_file():
    assert set(EXAMPLES) == set(N_FRAMES)
    for name, info in EXAMPLES.items():
        assert example_path(name).is_file()
        assert info.source and info.license and info.description
    with pytest.raises(InputError) as err:
        example_path("si_nonexistent")
    assert err.value.field == "dataset" and "si_mlearn_train" in str(err.value)


@pytest.mark.parametrize("name", sorted(N_FRAMES))
def test_every_example_loads_with_valid_labels(name):
    data = load_example(name)
    assert data.name == name and len(data) == N_FRAMES[name]
    element = name.split("_")[0].capitalize()
    assert data.species == [element]
    assert len(set(data.sources)) == 1
    energies = data.energies_ev()
    per_atom = energies / np.array([len(a) for a in data])
    # VASP PBE ground states (eV/atom; Si diamond -5.425): nothing in these sets is more than 0.1 eV/atom below
    ground = OTHER_ZERO_EV_ATOM.get(name, GROUND_STATE_EV_ATOM[element])
    assert np.all(per_atom > ground - 0.1) and np.all(per_atom < ground + 2.5)
    for atoms in data:
        assert atoms.arrays[FORCES_KEY].shape == (len(atoms), 3)
        assert np.all(np.isfinite(atoms.arrays[FORCES_KEY]))


def test_mlearn_stress_is_voigt_of_the_raw_3x3():
    data = load_example("si_mlearn_test")
    assert all(a.info[STRESS_KEY].shape == (6,) for a in data)
    header = example_path("si_mlearn_test").read_text().splitlines()[1]
    raw = np.array(header.split('stress="')[1].split('"')[0].split(), dtype=float).reshape(3, 3)
    voigt = [raw[0, 0], raw[1, 1], raw[2, 2], raw[1, 2], raw[0, 2], raw[0, 1]]
    np.testing.assert_allclose(data[0].info[STRESS_KEY], voigt, rtol=1e-12)
    assert data[0].info[ENERGY_KEY] == float(header.split("energy=")[1].split()[0])


@pytest.mark.parametrize(
    ("name", "n_atoms", "n_re_atoms"), [("si_vacancy_re_test", 63, 146), ("si_interstitial_re_test", 65, 177)]
)
def test_rare_event_extras_are_kept(name, n_atoms, n_re_atoms):
    data = load_example(name)
    assert {len(a) for a in data} == {n_atoms}
    for atoms in data:
        for key in ("forces_K1", "forces_K2"):
            assert atoms.arrays[key].shape == (n_atoms, 3)
        assert atoms.arrays["r_migrating"].shape == (n_atoms,)
        assert np.isfinite(atoms.info["energy_K2"])
    # rare-event atoms (r_migrating == 0): 146 (vacancy) and 177 (interstitial), per the source study
    assert sum(int(np.sum(a.arrays["r_migrating"] == 0)) for a in data) == n_re_atoms
    # Γ-only forces differ from the 4x4x4 reference ones (they are a separate label, not a copy)
    assert not np.allclose(data[0].arrays["forces_K1"], data[0].arrays[FORCES_KEY])


def test_content_hash_is_stable_and_sees_a_force_change(shared_data):
    data = load_example("si_mlearn_test")
    again = load_example("si_mlearn_test")
    assert data.content_hash == again.content_hash
    from mlipscope.data.loader import read_dataset

    shared = read_dataset(shared_data / "si" / "mlearn_Si_test.extxyz")
    assert shared.content_hash == data.content_hash  # same data, other path and name
    frames = copy.deepcopy(again.frames)
    frames[3].arrays[FORCES_KEY][5, 1] += 1e-4
    assert Dataset(frames).content_hash != data.content_hash
    frames = copy.deepcopy(again.frames)
    frames[0].info[ENERGY_KEY] += 1e-6
    assert Dataset(frames).content_hash != data.content_hash
