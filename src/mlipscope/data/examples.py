"""The datasets shipped with mlipscope, by short name: silicon (``package_data/si``) and the mlearn Ge, Mo, Li,
Cu, Ni sets (``package_data/mlearn``).

All are VASP PBE (PAW) with the mlearn settings, so each element's sets share one energy zero point, except
``si_stf_test`` (CASTEP PW91, the GAP-18 testing framework: another energy zero, for energy differences within the
set such as the energy ranking); see the README of each folder for sources and licenses.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from mlipscope.data.dataset import Dataset
from mlipscope.errors import InputError

_MLEARN = "materialsvirtuallab/mlearn (Zuo et al., J. Phys. Chem. A 124, 731, 2020)"
_MO = "mogroupumd/Silicon_MLIP_datasets (Liu, He & Mo, npj Comput. Mater. 9, 174, 2023)"
_MO_LICENSE = "not stated in the shared data notes; cite Liu, He & Mo 2023 (check upstream before redistributing)"
_STF = "libAtoms/silicon-testing-framework (CASTEP PW91 reference of Bartok et al., Phys. Rev. X 8, 041048, 2018)"
_STF_LICENSE = "not stated upstream; cite Bartok et al. 2018 (check upstream before redistributing)"


@dataclass(frozen=True)
class ExampleInfo:
    filename: str
    description: str
    source: str
    license: str
    folder: str = "si"


EXAMPLES: dict[str, ExampleInfo] = {
    "si_mlearn_train": ExampleInfo(
        "mlearn_Si_training.extxyz",
        "214 configs: strained bulk, bulk AIMD 300-3374 K, vacancy AIMD, surface slabs",
        _MLEARN,
        "BSD-3-Clause",
    ),
    "si_mlearn_test": ExampleInfo(
        "mlearn_Si_test.extxyz", "25 configs, the mlearn Si test split", _MLEARN, "BSD-3-Clause"
    ),
    "si_original_train": ExampleInfo(
        "moSi_Original_Training_Set.extxyz",
        "219 configs, the mlearn Si training set as used by Liu, He & Mo",
        _MO,
        _MO_LICENSE,
    ),
    "si_interstitial_train": ExampleInfo(
        "moSi_Interstitial-enhanced_Training_Set.extxyz",
        "219 configs: 99 originals + 120 interstitial-migration snapshots",
        _MO,
        _MO_LICENSE,
    ),
    "si_vacancy_train": ExampleInfo(
        "moSi_Vacancy-enhanced_Training_Set.extxyz",
        "219 configs: 99 originals + 120 vacancy-migration snapshots",
        _MO,
        _MO_LICENSE,
    ),
    "si_di_interstitial_train": ExampleInfo(
        "moSi_I-2_training_set.extxyz",
        "219 configs: 99 originals + 120 di-interstitial snapshots",
        _MO,
        _MO_LICENSE,
    ),
    "si_tetra_interstitial_train": ExampleInfo(
        "moSi_I-4_training_set.extxyz",
        "219 configs: 99 originals + 120 tetra-interstitial snapshots",
        _MO,
        _MO_LICENSE,
    ),
    "si_vacancy_re_test": ExampleInfo(
        "moSi_Vacancy-RE_Testing_Set.extxyz",
        "100 AIMD snapshots at 1230 K with a migrating vacancy (63 atoms); r_migrating, forces_K1/K2",
        _MO,
        _MO_LICENSE,
    ),
    "si_interstitial_re_test": ExampleInfo(
        "moSi_Interstitial-RE_Testing_Set.extxyz",
        "100 AIMD snapshots at 1230 K with a migrating interstitial (65 atoms); r_migrating, forces_K1/K2",
        _MO,
        _MO_LICENSE,
    ),
    "si_enhanced_validation": ExampleInfo(
        "moSi_Enhanced_Validation_Set.extxyz", "50 validation configs", _MO, _MO_LICENSE
    ),
    "si_stf_test": ExampleInfo(
        "stf_testing_database.extxyz",
        "28 configs, CASTEP PW91 (other energy zero): 20 stacking-fault path images (SF), 6 di-interstitials "
        "(diinter), a Sigma3 grain boundary (GB), amorphous Si (aSi)",
        _STF,
        _STF_LICENSE,
    ),
}
_MLEARN_COUNTS = {"Ge": (228, 25), "Mo": (194, 23), "Li": (241, 29), "Cu": (0, 31), "Ni": (0, 31)}
for _el, (_n_train, _n_test) in _MLEARN_COUNTS.items():
    if _n_train:
        EXAMPLES[f"{_el.lower()}_mlearn_train"] = ExampleInfo(
            f"mlearn_{_el}_training.extxyz", f"{_n_train} configs, the mlearn {_el} training split", _MLEARN,
            "BSD-3-Clause", "mlearn",
        )  # fmt: skip
    EXAMPLES[f"{_el.lower()}_mlearn_test"] = ExampleInfo(
        f"mlearn_{_el}_test.extxyz", f"{_n_test} configs, the mlearn {_el} test split", _MLEARN, "BSD-3-Clause",
        "mlearn",
    )  # fmt: skip


def example_path(name: str) -> Path:
    """Path of a shipped dataset file (the package is installed unzipped, so this is a real file)."""
    if name not in EXAMPLES:
        raise InputError(None, "dataset", f"one of the shipped datasets {sorted(EXAMPLES)}", got=name)
    info = EXAMPLES[name]
    return Path(str(files("mlipscope") / "package_data" / info.folder / info.filename))


def load_example(name: str) -> Dataset:
    """A shipped dataset, validated like any other file and named by its short name."""
    from mlipscope.data.loader import read_dataset

    return read_dataset(example_path(name), name=name)
