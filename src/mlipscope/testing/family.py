"""Conformance tests for an MLIP family, shipped with the package (in the spirit of TorchSim's model interface
tests). Anyone adding a family runs the same checks the project's own families pass.

Use it by subclassing :class:`FamilyConformance` in a test module (the base class name does not start with
``Test``, so pytest only collects the subclasses)::

    from mlipscope.testing import FamilyConformance

    class TestSNAPConformance(FamilyConformance):
        family_name = "snap"
        hyperparameters = {"twojmax": 4, "quadratic": False}
        n_train_frames = 30

For another material, set ``training_set`` and ``probe_set`` (shipped example names or dataset files) and
``energy_per_atom_range_ev`` (the binding energy a model fitted to that DFT data must give).

The class fits ONE model (class-scoped fixture) on a small subsample of the training set and checks:
the declared space is valid and samplable; the family uses the template :meth:`MLIPFamily.fit` (it implements
``_train`` and does not override ``fit``), which writes model.json with the agreed keys, the resolved
hyperparameters and the model files the training named; the calculator gives finite energy/forces/stress of the
right shapes and a bound energy per atom; energy is translation invariant; forces equal -dE/dx by central finite
differences; a refit with the same seed is reproducible; the registry round trip (path -> calculator) gives the
same numbers. A family whose fitting code is not installed here is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces

from mlipscope.data.dataset import Dataset
from mlipscope.data.examples import load_example
from mlipscope.models.base import FittedModel, HyperparameterSpace, MLIPFamily
from mlipscope.models.registry import MODEL_META_FILE, get_family, load_model_calculator
from mlipscope.models.sampling import METHODS, sample

REQUIRED_META = {"family", "hyperparameters", "seed", "training_set_hash", "fit_wall_time_s", "metrics"}


def _dataset(name_or_path: str) -> Dataset:
    from mlipscope.data.examples import EXAMPLES
    from mlipscope.data.loader import read_dataset

    return load_example(name_or_path) if name_or_path in EXAMPLES else read_dataset(name_or_path)


def small_training_set(n_frames: int, seed: int = 0, training_set: str = "si_mlearn_train") -> Dataset:
    """``n_frames`` frames of ``training_set`` (default: the mlearn Si training set; reproducible subsample)."""
    return _dataset(training_set).subsample(n_frames, seed)


def probe_structure(probe_set: str = "si_mlearn_test") -> Atoms:
    """A held-out, low-symmetry structure: the first frame of ``probe_set`` (default: the mlearn Si test set),
    labels stripped."""
    atoms = _dataset(probe_set)[0].copy()
    atoms.info = {}
    for key in list(atoms.arrays):
        if key not in ("numbers", "positions"):
            del atoms.arrays[key]
    return atoms


def assert_space_valid(space: HyperparameterSpace) -> None:
    names = space.names
    assert len(names) == len(set(names)), f"duplicate hyperparameter names {names}"
    for p in space.parameters:
        if p.scale == "categorical":
            assert p.choices, f"{p.name}: categorical without choices"
            assert p.default in p.choices, f"{p.name}: default {p.default!r} not among {p.choices}"
        else:
            assert p.low is not None and p.high is not None and p.low <= p.high, f"{p.name}: bad bounds"
            assert p.low <= p.default <= p.high, f"{p.name}: default {p.default} outside [{p.low}, {p.high}]"
            if p.scale == "log":
                assert p.low > 0, f"{p.name}: log scale needs low > 0"
        for u in (0.0, 0.5, 1.0):
            value = p.from_unit(u)
            if p.scale == "categorical":
                assert value in p.choices
            else:
                assert p.low - 1e-12 <= value <= p.high + 1e-12, f"{p.name}: from_unit({u}) = {value}"
            if p.scale == "int":
                assert isinstance(value, int)


def assert_samples_valid(space: HyperparameterSpace, repair=None, n: int = 16) -> None:
    for method in METHODS:
        points = sample(space, n, method, seed=3, repair=repair)
        assert len(points) == n
        assert points == sample(space, n, method, seed=3, repair=repair), f"{method} not reproducible"
        for hp in points:
            assert set(hp) == set(space.names)
            for p in space.parameters:
                value = hp[p.name]
                if p.scale == "categorical":
                    assert value in p.choices
                else:
                    assert p.low - 1e-12 <= value <= p.high + 1e-12, f"{method}: {p.name}={value}"


def energy_forces_stress(calc, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    atoms = atoms.copy()
    atoms.calc = calc
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


class FamilyConformance:
    """Subclass with ``family_name`` (registry name) and small, fast ``hyperparameters``."""

    family_name: ClassVar[str]
    hyperparameters: ClassVar[dict[str, Any]] = {}
    n_train_frames: ClassVar[int] = 30
    seed: ClassVar[int] = 7
    #: training data and the held-out probe structure (shipped example names or dataset files)
    training_set: ClassVar[str] = "si_mlearn_train"
    probe_set: ClassVar[str] = "si_mlearn_test"
    #: a model fitted to the DFT data must bind: its energy per atom of the probe lies in this range (Si diamond in
    #: the mlearn data: about -5.4 eV/atom)
    energy_per_atom_range_ev: ClassVar[tuple[float, float]] = (-6.5, -4.4)
    #: tolerance of |F - (-dE/dx)| in eV/Å (central differences with step fd_step_a)
    fd_tolerance_ev_a: ClassVar[float] = 2e-3
    fd_step_a: ClassVar[float] = 1e-3

    # --- fixtures ---------------------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    def family(self) -> MLIPFamily:
        family = get_family(self.family_name)
        ok, why = family.available()
        if not ok:
            pytest.skip(f"{self.family_name} not available: {why}")
        return family

    @pytest.fixture(scope="class")
    def train(self) -> Dataset:
        return small_training_set(self.n_train_frames, training_set=self.training_set)

    @pytest.fixture(scope="class")
    def isolated_cache(self, tmp_path_factory):
        """Descriptor caches (where a family has one) go to a fresh directory, not the user's cache."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLIPSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("descriptor_cache")))
            yield

    @pytest.fixture(scope="class")
    def fitted(self, family, train, isolated_cache, tmp_path_factory) -> FittedModel:
        model_dir = tmp_path_factory.mktemp(f"{self.family_name}_model")
        return family.fit(train, dict(self.hyperparameters), self.seed, model_dir)

    @pytest.fixture(scope="class")
    def calc(self, family, fitted):
        return family.load_calculator(fitted.model_dir)

    # --- checks -----------------------------------------------------------------------------------------------
    def test_space_is_valid_and_samplable(self, family):
        space = family.hyperparameter_space()
        assert_space_valid(space)
        assert_samples_valid(space, getattr(family, "repair_hyperparameters", None))
        assert set(self.hyperparameters) <= set(space.names)

    def test_fit_is_the_template(self, family):
        """``fit`` is MLIPFamily's (hyperparameters, data check, timing and model.json the same for every
        family); the family brings its training (``_train``)."""
        assert type(family).fit is MLIPFamily.fit, f"{type(family).__name__} overrides fit: implement _train"
        assert type(family)._train is not MLIPFamily._train
        assert isinstance(family.offers_batch_evaluation, bool)

    def test_fit_writes_model_json(self, family, fitted, train):
        meta_path = Path(fitted.model_dir) / MODEL_META_FILE
        meta = json.loads(meta_path.read_text())
        assert set(meta) >= REQUIRED_META, f"model.json lacks {REQUIRED_META - set(meta)}"
        assert meta["family"] == family.name == fitted.family
        assert meta["seed"] == self.seed == fitted.seed
        resolved = json.loads(json.dumps(family.check_hyperparameters(dict(self.hyperparameters))))
        assert meta["hyperparameters"] == resolved == json.loads(json.dumps(fitted.hyperparameters))
        assert set(meta["software_versions"]) >= set(family.fit_packages)
        assert meta["training_set_hash"] == train.content_hash
        for key, value in self.hyperparameters.items():
            assert meta["hyperparameters"][key] == value
        assert meta["fit_wall_time_s"] > 0
        assert all(math.isfinite(v) for v in meta["metrics"].values())
        assert meta["model_files"], "the training named no model files"
        digest = hashlib.sha256()  # the sha256 must be that of the model files as written
        for name in meta["model_files"]:
            digest.update((Path(fitted.model_dir) / name).read_bytes())
        assert meta["model_file_sha256"] == digest.hexdigest()

    def test_calculator_outputs_finite_with_shapes(self, calc):
        atoms = probe_structure(self.probe_set)
        energy, forces, stress = energy_forces_stress(calc, atoms)
        assert np.isfinite(energy)
        assert forces.shape == (len(atoms), 3) and np.all(np.isfinite(forces))
        assert stress.shape == (6,) and np.all(np.isfinite(stress))
        low, high = self.energy_per_atom_range_ev  # a model fitted to DFT must bind
        assert low < energy / len(atoms) < high, f"energy per atom {energy / len(atoms):.3f} eV"

    def test_energy_translation_invariant(self, calc):
        atoms = probe_structure(self.probe_set)
        e0, f0, _ = energy_forces_stress(calc, atoms)
        shifted = atoms.copy()
        shifted.translate([0.37, -1.21, 2.05])
        e1, f1, _ = energy_forces_stress(calc, shifted)
        assert e1 == pytest.approx(e0, abs=1e-6 * len(atoms))
        np.testing.assert_allclose(f1, f0, atol=1e-6)

    def test_forces_are_minus_energy_gradient(self, calc):
        atoms = probe_structure(self.probe_set)
        atoms.calc = calc
        forces = atoms.get_forces()
        indices = [0, len(atoms) // 2, len(atoms) - 1]
        numeric = calculate_numerical_forces(atoms, eps=self.fd_step_a, iatoms=indices)
        np.testing.assert_allclose(numeric, forces[indices], atol=self.fd_tolerance_ev_a)
        assert np.abs(forces[indices]).max() > 10 * self.fd_tolerance_ev_a  # the check is not vacuous

    def test_refit_same_seed_is_reproducible(self, family, fitted, train, calc, tmp_path):
        again = family.fit(train, dict(self.hyperparameters), self.seed, tmp_path / "again")
        atoms = probe_structure(self.probe_set)
        e0, f0, _ = energy_forces_stress(calc, atoms)
        e1, f1, _ = energy_forces_stress(family.load_calculator(again.model_dir), atoms)
        assert e1 == pytest.approx(e0, rel=1e-9, abs=1e-8)
        np.testing.assert_allclose(f1, f0, atol=1e-7)
        assert again.metrics == pytest.approx(fitted.metrics, rel=1e-8, abs=1e-12)

    def test_registry_round_trip(self, family, fitted, calc):
        from mlipscope.calculators import make_calculator

        atoms = probe_structure(self.probe_set)
        e0, f0, _ = energy_forces_stress(calc, atoms)
        for loaded in (load_model_calculator(fitted.model_dir), make_calculator(str(fitted.model_dir))):
            e1, f1, _ = energy_forces_stress(loaded, atoms)
            assert e1 == pytest.approx(e0, abs=1e-9 * len(atoms))
            np.testing.assert_allclose(f1, f0, atol=1e-9)
        commands = family.lammps_commands(fitted.model_dir)
        if commands is not None:
            assert commands[0].startswith("pair_style") and any(c.startswith("pair_coeff") for c in commands)
