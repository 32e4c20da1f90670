import pickle

import ase.io
import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.data.examples import example_path
from mlipscope.errors import EvaluationError, InputError
from mlipscope.properties.dataset_errors import DatasetErrors, parity_figure, sanitize_config_type
from mlipscope.properties.frame_data import FrameErrors
from mlipscope.units import EV_PER_A3_TO_GPA


class _ZeroOnSmallCells(Calculator):
    """E = 0, F = 0 on frames with fewer than 64 atoms; raises on the others (a model that crashes)."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if len(self.atoms) >= 64:
            raise RuntimeError("planted crash")
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


@pytest.fixture(scope="module")
def raw_frames():
    """The mlearn Si test set read with plain ASE: labels from the calculator results of the file."""
    return ase.io.read(example_path("si_mlearn_test"), ":")


@pytest.fixture(scope="module")
def sw_result(sw_calc):
    return DatasetErrors("si_mlearn_test").compute(sw_calc)


def _independent_errors(frames, calc):
    e_err, f_err, s_err = [], [], []
    for atoms in frames:
        dft_e, dft_f = atoms.get_potential_energy(), atoms.get_forces()
        dft_s = atoms.get_stress(voigt=True)
        work = atoms.copy()
        work.calc = calc
        e_err.append((work.get_potential_energy() - dft_e) / len(atoms) * 1000.0)
        f_err.append((work.get_forces() - dft_f).ravel())
        s_err.append((work.get_stress(voigt=True) - dft_s) * EV_PER_A3_TO_GPA)
    return np.array(e_err), np.concatenate(f_err), np.concatenate(s_err)


def test_sw_errors_match_independent_computation(sw_result, raw_frames, sw_calc):
    e_err, f_err, s_err = _independent_errors(raw_frames, sw_calc)
    v = sw_result.values
    assert v["energy_rmse_mev_atom"] == pytest.approx(np.sqrt(np.mean(e_err**2)), rel=1e-9)
    assert v["energy_mae_mev_atom"] == pytest.approx(np.mean(np.abs(e_err)), rel=1e-9)
    assert v["force_rmse_ev_a"] == pytest.approx(np.sqrt(np.mean(f_err**2)), rel=1e-9)
    assert v["force_mae_ev_a"] == pytest.approx(np.mean(np.abs(f_err)), rel=1e-9)
    assert v["stress_rmse_gpa"] == pytest.approx(np.sqrt(np.mean(s_err**2)), rel=1e-9)
    assert v["stress_mae_gpa"] == pytest.approx(np.mean(np.abs(s_err)), rel=1e-9)
    assert v["failed_frame_fraction"] == 0.0
    assert sw_result.error_metrics == frozenset(v)


def test_per_config_type_keys_and_values(sw_result, raw_frames, sw_calc):
    surface = [a for a in raw_frames if a.info["config_type"] == "Surface"]
    e_err, f_err, _ = _independent_errors(surface, sw_calc)
    v = sw_result.values
    assert v["energy_mae_mev_atom.surface"] == pytest.approx(np.mean(np.abs(e_err)), rel=1e-9)
    assert v["force_rmse_ev_a.surface"] == pytest.approx(np.sqrt(np.mean(f_err**2)), rel=1e-9)
    types = {sanitize_config_type(a.info["config_type"]) for a in raw_frames}
    assert types == {"aimd_nvt", "vacancy", "elastic", "surface"}
    assert all(f"stress_rmse_gpa.{t}" in v for t in types)
    assert FrameErrors.from_details(sw_result.details["frames"]).index.tolist() == list(range(len(raw_frames)))


def test_stored_frames_are_the_errors_to_their_rounding(sw_result, raw_frames, sw_calc):
    """details["frames"]: energy errors to 2^-21 eV/atom, force errors to 2^-11 eV/Å, stress errors to 2^-11 GPa."""
    e_err, f_err, s_err = _independent_errors(raw_frames, sw_calc)
    stored = FrameErrors.from_details(sw_result.details["frames"])
    np.testing.assert_allclose(stored.energy_error_ev_atom * 1000.0, e_err, rtol=0, atol=2**-21 * 1000 * 1.0001)
    np.testing.assert_allclose(stored.force_error_ev_a, f_err, rtol=0, atol=2**-11 * 1.0001)
    assert np.abs(stored.force_error_ev_a - f_err).max() > 1e-6  # rounded, not kept at full precision
    np.testing.assert_allclose(stored.stress_error_gpa.ravel(), s_err, rtol=0, atol=2**-11 * 1.0001)
    assert np.abs(stored.stress_error_gpa.ravel() - s_err).max() > 1e-5  # rounded too
    assert stored.stored_atoms is None and stored.dataset == "si_mlearn_test"


def test_sanitize_config_type():
    assert sanitize_config_type("AIMD-NVT") == "aimd_nvt"
    assert sanitize_config_type(" Ground state crystal ") == "ground_state_crystal"
    assert sanitize_config_type("--") == "unnamed"


def test_failed_frames_are_counted_and_errors_use_the_rest(raw_frames):
    result = DatasetErrors("si_mlearn_test", per_config_type=False).compute(_ZeroOnSmallCells())
    small = [a for a in raw_frames if len(a) < 64]
    assert result.values["failed_frame_fraction"] == pytest.approx(1 - len(small) / len(raw_frames))
    expected_mae = np.mean([abs(a.get_potential_energy()) / len(a) * 1000.0 for a in small])
    assert result.values["energy_mae_mev_atom"] == pytest.approx(expected_mae, rel=1e-9)
    assert result.details["n_failed"] == len(raw_frames) - len(small)
    assert "planted crash" in result.details["failures"][0]["reason"]


def test_all_frames_failing_raises(tmp_path, raw_frames):
    path = tmp_path / "big.extxyz"
    ase.io.write(path, [a for a in raw_frames if len(a) >= 64][:3])
    with pytest.raises(EvaluationError, match="failed on all 3 frames"):
        DatasetErrors(path).compute(_ZeroOnSmallCells())


def test_unknown_dataset_is_an_input_error():
    with pytest.raises(InputError, match="dataset"):
        DatasetErrors("no_such_dataset").compute(_ZeroOnSmallCells())


def test_property_is_small_and_picklable():
    prop = DatasetErrors("si_mlearn_test", label="errors_test")
    blob = pickle.dumps(prop)
    assert len(blob) < 1000  # the frames are loaded on compute, not shipped
    assert pickle.loads(blob).label == "errors_test"


def test_parity_figure(sw_result, raw_frames, tmp_path):
    fig = parity_figure(sw_result, tmp_path / "parity.png")
    assert len(fig.axes) == 2
    assert (tmp_path / "parity.png").stat().st_size > 10_000
    n_points = sum(len(c.get_offsets()) for c in fig.axes[1].collections)
    assert n_points == sum(3 * len(a) for a in raw_frames)


class _TimesOutAfter(_ZeroOnSmallCells):
    """Zero output for ``n`` frames, then the per-task time limit (as the runner's guard raises it)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from mlipscope.errors import TaskTimeout

        Calculator.calculate(self, atoms, properties, system_changes)
        if self.n <= 0:
            raise TaskTimeout("per-task time limit reached")
        self.n -= 1
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


def test_the_time_limit_stops_the_set_instead_of_failing_its_frames():
    """Past the limit the evaluation is a timeout; before, the frames left were stored as failed frames."""
    from mlipscope.errors import TaskTimeout

    with pytest.raises(TaskTimeout):
        DatasetErrors("si_mlearn_test").compute(_TimesOutAfter(3))
