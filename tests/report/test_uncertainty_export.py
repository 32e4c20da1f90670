"""``mlipscope uncertainty``: the most uncertain dataset frames as extended XYZ that ase.io.read loads, each with
its spreads, the frame the members disagree on most first."""

from __future__ import annotations

import ase.io
import numpy as np
import pandas as pd
import pytest

from mlipscope.cli import main
from mlipscope.data.examples import load_example
from mlipscope.properties.rare_events import RareEventForces, load_re_dataset, re_mask, stored_re_atoms
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


def test_rare_event_evaluations_give_the_rare_event_split(tmp_path):
    """RE results store their frames (energies, forces of the RE atoms and as many far ones): the calibration
    table compares the two sets of atoms, and the export marks the atoms without stored errors with NaN."""
    data = load_re_dataset("si_vacancy_re_test")
    prop = RareEventForces("re_vacancy", dataset="si_vacancy_re_test", max_frames=10)
    frames = data.frames[:10]
    rng = np.random.default_rng(1)
    db = tmp_path / "results.duckdb"
    with ResultsStore(db) as store:
        for m in range(6):
            sigma = [np.where(re_mask(a), 0.5, 0.05)[:, None] for a in frames]  # members disagree on RE atoms
            forces = [
                a.arrays["dft_forces"] + s * rng.normal(size=(len(a), 3)) for a, s in zip(frames, sigma, strict=True)
            ]
            energies = [a.info["dft_energy"] + 0.01 * len(a) * rng.normal() for a in frames]
            result = prop.result_from_predictions(data, frames, forces, energies)
            store.put_model(ModelRecord(model_id=f"m{m}", family="snap"))
            key = EvaluationKey(f"m{m}", "re_vacancy", "h")
            store.put_records([Record(key, Status.OK, details=result.details)])
    out = tmp_path / "out"
    assert main(["uncertainty", "--db", str(db), "--out", str(out), "--top", "3"]) == 0
    table = pd.read_csv(out / "frame_calibration.csv")
    table = table[table["group"] == "all"].set_index("quantity")
    ratio = table.loc["force_rare_event_atoms", "mean_spread"] / table.loc["force_other_atoms", "mean_spread"]
    assert ratio == pytest.approx(10.0, rel=0.25)
    for atoms in ase.io.read(out / "re_vacancy_most_uncertain.extxyz", index=":"):
        spread = atoms.arrays["ensemble_force_spread_ev_a"]
        stored = stored_re_atoms(data.frames[atoms.info["frame_index"]])
        assert np.isfinite(spread[stored]).all() and np.isnan(np.delete(spread, stored)).all()
