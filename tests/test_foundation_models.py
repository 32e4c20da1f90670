"""Foundation models by name: CHGNet (core extra), SevenNet (own environment), MACE model files; device choice."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from mlipscope.calculators import calculator_species, make_calculator
from mlipscope.errors import InputError
from mlipscope.foundation_models import is_foundation_spec, split_spec


def _si(a: float = 5.43):
    return bulk("Si", "diamond", a=a, cubic=True)


def _check_a_universal_si_model(calc) -> None:
    """Bound diamond Si near the PBE scale (MP: -5.42 eV/atom), zero forces by symmetry, forces = -dE/dx."""
    atoms = _si()
    atoms.calc = calc
    e_atom = atoms.get_potential_energy() / len(atoms)
    assert -5.8 < e_atom < -4.9
    assert np.abs(atoms.get_forces()).max() < 1e-3
    assert atoms.get_stress().shape == (6,)
    rattled = _si()
    rattled.rattle(0.05, seed=1)
    rattled.calc = calc
    forces = rattled.get_forces()
    step = 1e-3
    probe = rattled.copy()
    probe.calc = calc
    probe.positions[3, 0] += step
    e_plus = probe.get_potential_energy()
    probe.positions[3, 0] -= 2 * step
    e_minus = probe.get_potential_energy()
    assert forces[3, 0] == pytest.approx(-(e_plus - e_minus) / (2 * step), abs=0.02)


def test_spec_parsing_and_device_errors():
    assert is_foundation_spec("chgnet") and is_foundation_spec("sevennet:7net-0@cpu")
    assert is_foundation_spec("mace:/m.model") and not is_foundation_spec("mace")
    assert not is_foundation_spec("mlipscope.calculators:sw_silicon")
    assert split_spec("sevennet:7net-0@cpu") == ("sevennet", "7net-0", "cpu")
    with pytest.raises(InputError, match="device suffix"):
        split_spec("chgnet@gpu")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="@cuda only where torch sees a CUDA GPU"):
            make_calculator("chgnet@cuda")
        assert split_spec("chgnet@auto")[2] == "cpu"
    assert calculator_species("chgnet") is None  # most of the periodic table: not checked


def test_mace_spec_needs_an_existing_model_file(tmp_path):
    with pytest.raises(InputError, match="mace:<path"):
        make_calculator("mace:")
    with pytest.raises(InputError, match="existing MACE model file"):
        make_calculator(f"mace:{tmp_path / 'absent.model'}")
    pytest.importorskip("mace", reason="needs mace-torch: pip install 'mlipscope[mace]'")
    junk = tmp_path / "junk.model"
    junk.write_text("not a model")
    with pytest.raises(InputError, match="MACE model file torch can load"):
        make_calculator(f"mace:{junk}")


def test_chgnet_by_name():
    pytest.importorskip("chgnet", reason="CHGNet needs its extra: pip install 'mlipscope[chgnet]'")
    _check_a_universal_si_model(make_calculator("chgnet"))
    with pytest.raises(InputError, match="CHGNet version"):
        make_calculator("chgnet:9.9.9")


def test_chgnet_lattice_constant_is_pbe_like():
    """CHGNet is trained on MP PBE relaxations: its diamond-Si lattice constant is within 1 % of PBE's 5.469 Å."""
    pytest.importorskip("chgnet", reason="CHGNet needs its extra: pip install 'mlipscope[chgnet]'")
    from mlipscope.properties.eos import EquationOfState

    result = EquationOfState().compute(make_calculator("chgnet"))
    assert result.values["lattice_constant_a"] == pytest.approx(5.469, rel=0.01)


def test_sevennet_by_name():
    from mlipscope.models.environments import check_environment

    try:
        import sevenn  # noqa: F401
    except ImportError:
        usable, why = check_environment("sevennet")
        if not usable:
            pytest.skip(f"SevenNet: {why}")
    calc = make_calculator("sevennet:7net-0")
    try:
        _check_a_universal_si_model(calc)
    finally:
        getattr(calc, "close", lambda: None)()
    from mlipscope.errors import MlipscopeError

    with pytest.raises(MlipscopeError, match="no-such-model"):  # one line on the command line, not a traceback
        make_calculator("sevennet:no-such-model").get_potential_energy(_si())
