"""The conformance helper itself (it must reject broken spaces and calculators, and accept sound ones) and the fit
template of :class:`MLIPFamily`, on a toy family and over the registered ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.data.dataset import ENERGY_KEY, FORCES_KEY, Dataset
from mlipscope.errors import InputError
from mlipscope.models.base import Hyperparameter, HyperparameterSpace, MLIPFamily, Trained
from mlipscope.models.linear_batch import LINEAR_FAMILIES, offers_batch_evaluation
from mlipscope.models.registry import FAMILIES, MODEL_META_FILE, get_family
from mlipscope.testing import FamilyConformance, assert_samples_valid, assert_space_valid


class FlippedForces(Calculator):
    """Wraps a calculator and returns wrong forces (sign flipped): the gradient check must catch it."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        probe = atoms.copy()
        probe.calc = self.inner
        self.results = {
            "energy": probe.get_potential_energy(),
            "forces": -probe.get_forces(),
            "stress": probe.get_stress(),
        }


def test_space_checks_reject_a_default_outside_bounds():
    bad = HyperparameterSpace((Hyperparameter("x", "linear", 2.0, low=0.0, high=1.0),))
    with pytest.raises(AssertionError, match="default"):
        assert_space_valid(bad)
    with pytest.raises(AssertionError, match="log scale"):
        assert_space_valid(HyperparameterSpace((Hyperparameter("y", "log", 0.0, low=0.0, high=1.0),)))
    good = HyperparameterSpace((Hyperparameter("x", "int", 2, low=1, high=4),))
    assert_space_valid(good)
    assert_samples_valid(good)


def test_gradient_check_accepts_sw_and_rejects_flipped_forces(sw_calc):
    checks = FamilyConformance()
    checks.test_forces_are_minus_energy_gradient(sw_calc)
    checks.test_energy_translation_invariant(sw_calc)
    with pytest.raises(AssertionError):
        checks.test_forces_are_minus_energy_gradient(FlippedForces(sw_calc))


def test_shape_check_rejects_unbound_energies(sw_calc):
    """+10 eV/atom on top of Stillinger-Weber is no Si model fitted to DFT (about -5.4 eV/atom)."""

    class Shifted(FlippedForces):
        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results["forces"] = -self.results["forces"]
            self.results["energy"] += 10.0 * len(atoms)

    with pytest.raises(AssertionError):
        FamilyConformance().test_calculator_outputs_finite_with_shapes(Shifted(sw_calc))


# --- the fit template ----------------------------------------------------------------------------------------------
class ConstantFamily(MLIPFamily):
    """The smallest family: a constant energy per atom (the training set's mean), to test the template alone."""

    name = "constant"
    extra = "none"
    fit_packages = ("numpy",)

    def hyperparameter_space(self) -> HyperparameterSpace:
        return HyperparameterSpace((Hyperparameter("scale", "linear", 1.0, low=0.5, high=2.0),))

    def _train(self, dataset, hp, seed, model_dir: Path) -> Trained:
        per_atom = float(np.mean([a.info[ENERGY_KEY] / len(a) for a in dataset.frames])) * hp["scale"]
        path = model_dir / "constant.json"
        path.write_text(json.dumps({"energy_per_atom_ev": per_atom}))
        return Trained([path], {"from_training": 1.0}, {"species": dataset.species})

    def _training_metrics(self, dataset, model_dir: Path) -> dict[str, float]:
        return {"from_model": 2.0}

    def load_calculator(self, model_dir: Path):
        raise NotImplementedError


def _labelled(n: int = 3) -> Dataset:
    frames = []
    for i in range(n):
        atoms = bulk("Si", "diamond", a=5.43 + 0.01 * i)
        atoms.info[ENERGY_KEY] = -10.8 + 0.01 * i
        atoms.arrays[FORCES_KEY] = np.zeros((len(atoms), 3))
        frames.append(atoms)
    return Dataset(frames, name="toy")


def test_template_fit_writes_model_json_from_the_training_hook(tmp_path):
    train = _labelled()
    fitted = ConstantFamily().fit(train, {"scale": 2}, np.int64(4), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / MODEL_META_FILE).read_text())
    assert meta["family"] == "constant" and meta["seed"] == 4 and meta["species"] == ["Si"]
    assert meta["hyperparameters"] == {"scale": 2.0} and isinstance(fitted.hyperparameters["scale"], float)
    assert meta["metrics"] == {"from_training": 1.0, "from_model": 2.0} == fitted.metrics
    assert meta["training_set"] == "toy" and meta["training_set_hash"] == train.content_hash
    assert meta["model_files"] == ["constant.json"] and "numpy" in meta["software_versions"]
    assert meta["fit_wall_time_s"] == fitted.fit_wall_time_s > 0


def test_template_checks_before_training(tmp_path):
    family = ConstantFamily()
    with pytest.raises(InputError, match="names from"):
        family.fit(_labelled(), {"scael": 1.0}, 0, tmp_path / "a")
    assert not (tmp_path / "a").exists()  # nothing is made for a fit that cannot start
    broken = _labelled()
    del broken.frames[1].arrays[FORCES_KEY]
    with pytest.raises(InputError, match="frame 1"):
        family.fit(broken, {}, 0, tmp_path / "b")


def test_every_family_uses_the_template_and_has_conformance_tests():
    here = Path(__file__).parent
    covered = set(re.findall(r'family_name = "(\w+)"', "".join(p.read_text() for p in here.glob("test_*.py"))))
    assert covered >= set(FAMILIES), f"no FamilyConformance subclass for {set(FAMILIES) - covered}"
    for name in FAMILIES:
        family = get_family(name)
        assert type(family).fit is MLIPFamily.fit, name
    batch = {name for name in FAMILIES if get_family(name).offers_batch_evaluation}
    assert batch == set(LINEAR_FAMILIES)
    assert all(offers_batch_evaluation(name) for name in batch)
    assert not offers_batch_evaluation("external") and not offers_batch_evaluation(None)
