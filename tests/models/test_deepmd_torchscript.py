"""The frozen DeePMD model run by the core environment's torch against DeePMD-kit's own DP calculator.

A small se_e2_a model is fitted in the isolated ``deepmd`` environment (skipped without it, or without torch here);
DeePMD's ``deepmd.calculator.DP`` evaluates it in that environment through the family's child path, and
:class:`FrozenDeePMDCalculator` in this process must give the same energies, forces and stresses on periodic Si
cells of 2 to 64 atoms (orthogonal, sheared, rattled) and on a non-periodic cluster.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlipscope.data.examples import load_example
from mlipscope.errors import InputError
from mlipscope.models import deepmd_child
from mlipscope.models.deepmd import MODEL_FILE, DeePMDFamily
from mlipscope.models.deepmd_torchscript import FrozenDeePMDCalculator
from mlipscope.models.environments import check_environment, find_python
from mlipscope.models.worker import SubprocessCalculator, entry_of

pytest.importorskip("torch")

#: a model that trains in seconds; 30 steps with virials so that the stress is not a trivial zero
SMALL = {
    "embedding_width": 4,
    "axis_neuron": 4,
    "fitting_width": 16,
    "fitting_layers": 1,
    "numb_steps": 30,
    "decay_steps": 10,
    "batch_size": 1,
}
#: eV, eV/Å, eV/Å³: both run the same TorchScript graph in float64, so only round-off may differ
TOLERANCE = 1e-8


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    ok, why = check_environment("deepmd")
    if not ok:
        pytest.skip(f"deepmd environment missing: {why}")
    model_dir = tmp_path_factory.mktemp("deepmd_small")
    DeePMDFamily().fit(load_example("si_mlearn_train").subsample(8, 0), SMALL, 3, model_dir)
    return model_dir / MODEL_FILE


def structures() -> list[Atoms]:
    """Periodic Si of different sizes and cell shapes, and a cluster."""
    test = load_example("si_mlearn_test")
    primitive = bulk("Si", "diamond", a=5.45)  # 2 atoms, non-orthogonal cell far smaller than the cutoff
    primitive.rattle(0.05, seed=1)
    sheared = bulk("Si", "diamond", a=5.43, cubic=True)  # 8 atoms, triclinic after the shear
    sheared.set_cell(sheared.cell[:] @ np.array([[1.01, 0.03, 0.0], [0.0, 0.99, 0.02], [0.01, 0.0, 1.0]]), True)
    sheared.rattle(0.08, seed=2)
    supercell = bulk("Si", "diamond", a=5.40, cubic=True).repeat((2, 2, 2))  # 64 atoms, compressed
    supercell.rattle(0.05, seed=3)
    cluster = sheared[:6].copy()
    cluster.pbc = False
    cluster.cell = np.zeros((3, 3))
    sizes = sorted({len(a) for a in test.frames})
    from_test = [next(a for a in test.frames if len(a) == n).copy() for n in sizes[:2]]
    return [primitive, sheared, supercell, *from_test, cluster]


def test_frozen_model_in_this_process_equals_deepmd_dp(model_path):
    python = find_python("deepmd")
    reference = SubprocessCalculator(
        python, entry_of(Path(deepmd_child.__file__), "make_calculator"), {"path": str(model_path)}
    )
    ours = FrozenDeePMDCalculator(model_path)
    try:
        for atoms in structures():
            expected, got = atoms.copy(), atoms.copy()
            expected.calc, got.calc = reference, ours
            label = f"{len(atoms)} atoms, pbc {atoms.pbc.tolist()}"
            assert got.get_potential_energy() == pytest.approx(expected.get_potential_energy(), abs=TOLERANCE), label
            np.testing.assert_allclose(got.get_forces(), expected.get_forces(), rtol=0, atol=TOLERANCE, err_msg=label)
            assert np.abs(expected.get_forces()).max() > 1e-3, label  # a non-trivial comparison
            if atoms.pbc.all():
                np.testing.assert_allclose(
                    got.get_stress(), expected.get_stress(), rtol=0, atol=TOLERANCE, err_msg=label
                )
                assert np.abs(expected.get_stress()).max() > 1e-5, label
            else:
                assert "stress" not in ours.results
    finally:
        reference.close()


def test_family_evaluates_in_process_and_falls_back_to_the_child(model_path, monkeypatch):
    import mlipscope.models.deepmd_torchscript as torchscript

    assert isinstance(DeePMDFamily._calculator(model_path), FrozenDeePMDCalculator)

    def needs_custom_ops(path):
        raise RuntimeError("Unknown builtin op: deepmd::tabulate_fusion_se_a")

    monkeypatch.setattr(torchscript, "load_frozen_model", needs_custom_ops)
    monkeypatch.setattr("mlipscope.models.deepmd.deepmd_in_process", lambda: False)
    fallback = DeePMDFamily._calculator(model_path)
    try:
        assert isinstance(fallback, SubprocessCalculator)
        atoms = structures()[1]
        atoms.calc = fallback
        assert np.isfinite(atoms.get_potential_energy())
    finally:
        fallback.close()


def test_element_outside_the_type_map_is_an_input_error(model_path):
    atoms = bulk("Ge", "diamond", a=5.66)
    atoms.calc = FrozenDeePMDCalculator(model_path)
    with pytest.raises(InputError, match="type_map"):
        atoms.get_potential_energy()
