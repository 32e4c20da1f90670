"""POD family: conformance, agreement of the cached-descriptor path with LAMMPS fitpod, accuracy on mlearn Si."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

import mlipscope
from mlipscope.data.examples import load_example
from mlipscope.models.pod import COEFF_FILE, PODFamily
from mlipscope.testing import FamilyConformance, small_training_set

try:
    from .test_snap import rmse_with_calculator
except ImportError:  # tests/models is not a package: pytest puts this directory on sys.path
    from test_snap import rmse_with_calculator

SMALL = {
    "twobody_number_radial_basis_functions": 6,
    "threebody_number_radial_basis_functions": 4,
    "threebody_angular_degree": 2,
    "fourbody_number_radial_basis_functions": 0,
    "fourbody_angular_degree": 0,
}


class TestPODConformance(FamilyConformance):
    family_name = "pod"
    hyperparameters = SMALL
    n_train_frames = 25


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MLIPSCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_repair_orders_body_counts():
    family = PODFamily()
    hp = family.repair_hyperparameters(
        {
            **family.hyperparameter_space().defaults(),
            "twobody_number_radial_basis_functions": 5,
            "threebody_number_radial_basis_functions": 8,
            "fourbody_number_radial_basis_functions": 7,
            "threebody_angular_degree": 2,
            "fourbody_angular_degree": 4,
        }
    )
    assert hp["threebody_number_radial_basis_functions"] == 5
    assert hp["fourbody_number_radial_basis_functions"] == 5
    assert hp["fourbody_angular_degree"] == 2
    off = family.repair_hyperparameters({**hp, "fourbody_angular_degree": 0})
    assert off["fourbody_number_radial_basis_functions"] == 0


def test_cached_descriptors_reproduce_fitpod_training_errors(cache_dir, tmp_path):
    """fitpod's own coefficients, evaluated with our cached compute pod/global normal equations, must give the
    training RMSEs fitpod reports (printed to 6 decimals): same descriptors, same layout, same units."""
    train = small_training_set(20, seed=4)
    family = PODFamily()
    hp = {**SMALL, "fourbody_number_radial_basis_functions": 3, "fourbody_angular_degree": 2}
    fitted = family.fit_fitpod(train, hp, 0, tmp_path / "fitpod")
    coefficients = np.loadtxt(fitted.model_dir / COEFF_FILE, skiprows=1)
    system = family.linear_system(train, family.check_hyperparameters(hp), tmp_path)
    ours = system.rmse(coefficients)
    assert ours["train_energy_rmse_ev_per_atom"] == pytest.approx(
        fitted.metrics["train_energy_rmse_ev_per_atom"], abs=2e-6
    )
    assert ours["train_force_rmse_ev_a"] == pytest.approx(fitted.metrics["train_force_rmse_ev_a"], abs=2e-6)
    # and the fitpod model loads and runs like any other
    direct = rmse_with_calculator(family.load_calculator(fitted.model_dir), train)
    assert direct["train_force_rmse_ev_a"] == pytest.approx(fitted.metrics["train_force_rmse_ev_a"], abs=2e-6)


@pytest.mark.slow
def test_pod_default_accuracy_on_mlearn_si_test(cache_dir, tmp_path):
    """Default POD (2+3+4-body, 81 descriptors) on the 214 mlearn Si frames: held-out force RMSE < 0.15 eV/Å,
    energy < 10 meV/atom."""
    family = PODFamily()
    fitted = family.fit(load_example("si_mlearn_train"), {}, 0, tmp_path / "pod")
    errors = rmse_with_calculator(family.load_calculator(fitted.model_dir), load_example("si_mlearn_test"))
    assert errors["train_force_rmse_ev_a"] < 0.15
    assert errors["train_energy_rmse_ev_per_atom"] < 0.010


SPARSE_CHILD = """
import json, sys
from ase import Atoms
from mlipscope.models.pod import PODFamily

calc = PODFamily().load_calculator(sys.argv[1])
atom = Atoms("Si", positions=[[10.0, 10.0, 10.0]], cell=[20.0] * 3, pbc=True)
atom.calc = calc
out = {"atom_ev": atom.get_potential_energy()}
dimer = Atoms("Si2", positions=[[9.0, 10.0, 10.0], [11.3, 10.0, 10.0]], cell=[20.0] * 3, pbc=True)
dimer.calc = calc
out |= {"dimer_ev": dimer.get_potential_energy(), "dimer_forces": dimer.get_forces().tolist()}
print(json.dumps(out))
"""


def test_calculator_survives_an_isolated_atom_and_a_dimer(cache_dir, tmp_path):
    """The first structure a fresh ``pair_style pod`` sees sizes its scratch buffers (LAMMPS 22 Jul 2025,
    lammps/lammps#5114): an isolated atom first crashed the process (segfault), a dimer corrupted the heap. Run in a
    child so that a crash fails this test instead of pytest. The values are checked independently: a lone atom has
    the one-body energy (the first coefficient), the dimer the energy and forces of its ``compute pod/global`` rows
    times the coefficients."""
    family = PODFamily()
    fitted = family.fit(small_training_set(20, seed=4), {}, 0, tmp_path / "pod")  # default size: 81 coefficients
    env = {**os.environ, "PYTHONPATH": str(Path(mlipscope.__file__).parents[1])}
    child = subprocess.run(
        [sys.executable, "-c", SPARSE_CHILD, str(fitted.model_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert child.returncode == 0, f"exit {child.returncode}: {child.stderr[-1500:]}"
    values = json.loads(child.stdout.splitlines()[-1])
    beta = PODFamily.read_coefficients(fitted.model_dir)
    assert values["atom_ev"] == pytest.approx(beta[0], abs=1e-10)
    dimer = Atoms("Si2", positions=[[9.0, 10.0, 10.0], [11.3, 10.0, 10.0]], cell=[20.0] * 3, pbc=True)
    computer = family.rows_computer(["Si"], family.check_hyperparameters({}), tmp_path)
    try:
        energy_row, force_rows, _ = computer(dimer)
    finally:
        computer.close()
    assert values["dimer_ev"] == pytest.approx(float(energy_row @ beta), abs=1e-9)
    assert abs(values["dimer_ev"] - 2 * beta[0]) > 0.1  # the pair interacts: not just two one-body terms
    forces = np.asarray(values["dimer_forces"])
    np.testing.assert_allclose(forces, (force_rows @ beta).reshape(-1, 3), atol=1e-9)
    assert abs(forces[1, 0]) > 0.01
