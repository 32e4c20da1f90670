"""``mlipscope uncertainty``: the most uncertain dataset frames as extended XYZ that ase.io.read loads, each with
its spreads, the frame the members disagree on most first."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from mlipscope.cli import main
from mlipscope.data.examples import load_example
from mlipscope.store.duckdb_store import ResultsStore
from mlipscope.store.protocol import EvaluationKey, ModelRecord, Record, Status

N_FRAMES, NOISY = 10, 6  # frames of si_mlearn_test used; the frame every member disagrees on wildly


def _members(n_models: int, seed: int = 0) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    frames = load_example("si_mlearn_test").frames[:N_FRAMES]
    sigma = np.full(N_FRAMES, 0.01)
    sigma[NOISY] = 1.0
    out = {}
    for m in range(n_models):
        records = []
        for i, atoms in enumerate(frames):
            e_dft = float(atoms.info["dft_energy"]) / len(atoms)
            f_dft = np.asarray(atoms.arrays["dft_forces"], dtype=float).ravel()
            records.append(
                {
                    "index": i,
                    "config_type": "x",
                    "n_atoms": len(atoms),
                    "energy_dft_ev_atom": e_dft,
                    "energy_model_ev_atom": e_dft + sigma[i] * rng.normal(),
                    "forces_dft_ev_a": f_dft.tolist(),
                    "forces_model_ev_a": (f_dft + sigma[i] * rng.normal(size=f_dft.size)).tolist(),
                }
            )
        out[f"m{m}"] = records
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uncertainty")
    members = _members(6)
    with ResultsStore(tmp / "results.duckdb") as store:
        for model, frames in members.items():
            store.put_model(ModelRecord(model_id=model, family="snap"))
            key = EvaluationKey(model, "errors_mlearn_test", "h")
            store.put_records([Record(key, Status.OK, details={"dataset": "si_mlearn_test", "frames": frames})])
    assert main(["uncertainty", "--db", str(tmp / "results.duckdb"), "--out", str(tmp / "out"), "--top", "4"]) == 0
    return members, tmp / "out"


def test_written_xyz_loads_with_spreads_and_the_top_frame_first(exported):
    members, out = exported
    frames = ase.io.read(out / "errors_mlearn_test_most_uncertain.extxyz", index=":")
    assert len(frames) == 4
    assert [a.info["frame_index"] for a in frames][0] == NOISY
    energy = np.array([[r["energy_model_ev_atom"] for r in recs] for recs in members.values()])
    forces = {i: np.array([recs[i]["forces_model_ev_a"] for recs in members.values()]) for i in range(N_FRAMES)}
    spreads = [a.info["ensemble_energy_spread_ev_atom"] for a in frames]
    assert spreads[0] == max(spreads)
    original = load_example("si_mlearn_test").frames
    for atoms in frames:
        i = atoms.info["frame_index"]
        assert atoms.info["source_dataset"] == "si_mlearn_test"
        assert atoms.info["ensemble_energy_spread_ev_atom"] == pytest.approx(energy[:, i].std(ddof=1))
        per_atom = forces[i].std(axis=0, ddof=1).reshape(-1, 3).max(axis=1)  # independent of the module's split
        np.testing.assert_allclose(atoms.arrays["ensemble_force_spread_ev_a"], per_atom, rtol=1e-6)
        assert atoms.info["ensemble_max_force_spread_ev_a"] == pytest.approx(per_atom.max())
        np.testing.assert_allclose(atoms.positions, original[i].positions)  # the dataset's own structure


def test_calibration_table_is_written_and_bad_input_is_refused(exported, tmp_path, capsys):
    _, out = exported
    assert (out / "frame_calibration.csv").is_file()
    assert main(["uncertainty", "--db", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path)]) == 2
    assert "existing mlipscope results database" in capsys.readouterr().err
