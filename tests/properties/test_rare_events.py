"""RE metrics on the shipped Si RE test sets, with Γ-only DFT forces as the "model" (notes/re_metrics.md)."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms

from mlipscope.errors import InputError
from mlipscope.properties.frame_data import FrameErrors
from mlipscope.properties.rare_events import (
    RE_DATASETS,
    RareEventForces,
    StoredForcesCalculator,
    detect_re_atoms,
    load_re_dataset,
    plot_re_cdfs,
    re_errors_from_details,
    re_mask,
    re_metrics,
)

# (RE atoms, RE_F, RE_A) stored by the source study for forces_K1 against the 4x4x4 forces
EXPECTED = {"si_vacancy_re_test": (146, 0.174, 0.147), "si_interstitial_re_test": (177, 0.248, 0.224)}


def _raw_re_forces(shared_data, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    frames = ase.io.read(shared_data / RE_DATASETS[dataset], ":")
    k1, ref = [], []
    for atoms in frames:
        mask = atoms.arrays["r_migrating"] == 0
        k1.append(atoms.arrays["forces_K1"][mask])
        ref.append(atoms.get_forces()[mask])
    return np.concatenate(k1), np.concatenate(ref)


@pytest.mark.parametrize("dataset", sorted(EXPECTED))
def test_gamma_only_forces_as_model(shared_data, dataset):
    data = load_re_dataset(dataset)
    result = RareEventForces(dataset=dataset).compute(StoredForcesCalculator(data.frames, "forces_K1"))
    v = result.values
    n_re, re_f, re_a = EXPECTED[dataset]
    assert v["n_re_atoms"] == n_re
    assert v["re_f_ev_a"] == pytest.approx(re_f, abs=6e-4)
    assert v["re_a"] == pytest.approx(re_a, abs=6e-4)

    # the same definitions computed here from the raw arrays of the shared file
    f, f0 = _raw_re_forces(shared_data, dataset)
    n, n0 = np.linalg.norm(f, axis=1), np.linalg.norm(f0, axis=1)
    d_f = np.abs(n - n0)
    d_theta = np.degrees(np.arccos(np.clip((f * f0).sum(1) / (n * n0), -1, 1)))
    assert v["re_f_ev_a"] == pytest.approx(np.sqrt(np.mean(d_f**2)), rel=1e-12)
    assert v["re_m_ev_a"] == pytest.approx(np.mean(np.minimum(d_f, 1.0)), rel=1e-12)
    assert v["re_a"] == pytest.approx(np.mean(np.minimum(d_theta, 60.0)) / 60.0, rel=1e-10)
    assert v["frac_df_gt_0p5"] == pytest.approx(np.mean(d_f > 0.5))
    assert v["frac_dtheta_gt_15"] == pytest.approx(np.mean(d_theta > 15))
    assert v["frac_dtheta_gt_30"] == pytest.approx(np.mean(d_theta > 30))
    assert v["vector_rmse_ev_a"] == pytest.approx(np.sqrt(np.mean(np.sum((f - f0) ** 2, axis=1))), rel=1e-12)
    assert np.isnan(v["energy_rmse_ev_atom"])  # the Γ-only set ships no energies
    assert "re_f_ev_a" in result.error_metrics


def test_k2_model_energy_and_force_rmse_on_whole_set(shared_data):
    data = load_re_dataset("si_vacancy_re_test")
    result = RareEventForces(dataset="si_vacancy_re_test").compute(
        StoredForcesCalculator(data.frames, "forces_K2", energy_key="energy_K2")
    )
    frames = ase.io.read(shared_data / RE_DATASETS["si_vacancy_re_test"], ":")
    e_err = [(a.info["energy_K2"] - a.get_potential_energy()) / len(a) for a in frames]
    f_err = np.concatenate([a.arrays["forces_K2"] - a.get_forces() for a in frames])
    assert result.values["energy_rmse_ev_atom"] == pytest.approx(np.sqrt(np.mean(np.square(e_err))), rel=1e-10)
    assert result.values["force_rmse_ev_a"] == pytest.approx(np.sqrt(np.mean(f_err**2)), rel=1e-10)
    # 2x2x2 k-points are much closer to the 4x4x4 reference than Γ only
    assert result.values["re_f_ev_a"] < 0.5 * EXPECTED["si_vacancy_re_test"][1]


def test_re_metrics_on_hand_made_forces():
    f_ref = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
    f_model = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])  # 90° off and 1 eV/Å longer; exact
    m = re_metrics(f_model, f_ref)
    assert m["re_f_ev_a"] == pytest.approx(np.sqrt(0.5))
    assert m["re_m_ev_a"] == pytest.approx(0.5)
    assert m["re_a"] == pytest.approx(0.5)  # min(90, 60)/60 and 0, averaged
    assert m["frac_dtheta_gt_30"] == 0.5 and m["frac_df_gt_0p5"] == 0.5
    with pytest.raises(ValueError):
        re_metrics(f_model[:1], f_ref)


def test_missing_re_labels_are_an_input_error():
    with pytest.raises(InputError, match="r_migrating"):
        re_mask(Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]]), source="x.extxyz", frame=3)


def test_detect_re_atoms_on_a_jump_between_sites():
    # two sites 2.35 Å apart in a big box; atom 0 jumps 0 -> 1 over frames 10..20, atom 1 wobbles 0.8 Å and returns
    sites = np.array([[0.0, 0.0, 0.0], [2.35, 0.0, 0.0], [6.0, 6.0, 6.0]])
    cell = np.eye(3) * 12.0
    n_frames = 30
    pos = np.repeat(sites[None, [0, 2]], n_frames, axis=0).copy()
    s = np.clip((np.arange(n_frames) - 10) / 10.0, 0.0, 1.0)
    pos[:, 0, 0] = 2.35 * s
    pos[12:15, 1, 1] += 0.8
    rng = np.random.default_rng(0)
    pos += rng.normal(0.0, 0.05, pos.shape)
    flags = detect_re_atoms(pos, sites, cell, off_site_a=0.7, min_displacement_a=1.0)
    off_site = np.minimum(np.abs(pos[:, 0, 0]), np.abs(pos[:, 0, 0] - 2.35)) > 0.7
    assert np.array_equal(flags[:, 0], off_site)  # the jumping atom, exactly while it is between the sites
    assert flags[:, 0].sum() >= 3
    assert not flags[:, 1].any()  # the wobble returned to its own site


def test_cdf_figure(tmp_path):
    data = load_re_dataset("si_interstitial_re_test")
    errors = {}
    for key in ("forces_K1", "forces_K2"):
        result = RareEventForces(dataset="si_interstitial_re_test", max_frames=10).compute(
            StoredForcesCalculator(data.frames, key)
        )
        errors[key] = re_errors_from_details(result.details)
        assert len(errors[key][0]) == result.values["n_re_atoms"]
    path = plot_re_cdfs(errors, tmp_path / "re_cdf.png")
    assert path.stat().st_size > 10_000


def test_re_evaluation_stores_energy_and_sampled_force_errors(sw_calc, shared_data):
    """details["frames"]: every frame's energy error and the force errors of its RE atoms and as many of the
    atoms farthest from them, rounded (energies to 2^-21 eV/atom, forces to 2^-11 eV/Å)."""
    n_frames = 5
    result = RareEventForces(dataset="si_vacancy_re_test", max_frames=n_frames).compute(sw_calc)
    stored = FrameErrors.from_details(result.details["frames"])
    raw = ase.io.read(shared_data / RE_DATASETS["si_vacancy_re_test"], f":{n_frames}")
    assert stored.index.tolist() == list(range(n_frames))
    starts = np.concatenate([[0], np.cumsum(stored.atoms_per_frame)])
    for k, atoms in enumerate(raw):
        r = atoms.arrays["r_migrating"]
        kept = stored.stored_atoms[starts[k] : starts[k + 1]]
        n_re = int((r == 0).sum())
        assert set(np.flatnonzero(r == 0)) <= set(kept) and len(kept) == n_re + max(n_re, 1)
        others = np.setdiff1d(kept, np.flatnonzero(r == 0))
        assert r[others].min() >= np.delete(r, kept)[np.delete(r, kept) > 0].max()  # the farthest ones
        work = atoms.copy()
        work.calc = sw_calc
        f_err = (work.get_forces() - atoms.get_forces())[kept].ravel()
        e_err = (work.get_potential_energy() - atoms.get_potential_energy()) / len(atoms)
        got = stored.force_error_ev_a[3 * starts[k] : 3 * starts[k + 1]]
        np.testing.assert_allclose(got, f_err, rtol=0, atol=2**-11 * 1.0001)
        assert stored.energy_error_ev_atom[k] == pytest.approx(e_err, abs=2**-21 * 1.0001)


def test_cdf_errors_come_from_stored_frames_or_old_lists():
    data = load_re_dataset("si_vacancy_re_test")
    result = RareEventForces(dataset="si_vacancy_re_test", max_frames=20).compute(
        StoredForcesCalculator(data.frames, "forces_K1")
    )
    assert "delta_f_ev_a" not in result.details
    d_f, d_theta = re_errors_from_details(result.details)
    f = np.concatenate([a.arrays["forces_K1"][re_mask(a)] for a in data.frames[:20]])
    f0 = np.concatenate([a.arrays["dft_forces"][re_mask(a)] for a in data.frames[:20]])
    exact_f, exact_theta = np.abs(np.linalg.norm(f, axis=1) - np.linalg.norm(f0, axis=1)), _angles_deg(f, f0)
    # each component rounded by at most 2^-11 eV/Å: |F| by at most sqrt(3) of that
    np.testing.assert_allclose(d_f, exact_f, rtol=0, atol=np.sqrt(3) * 2**-11)
    # the direction turns by at most |dF| / |F| (radians) per force whose components moved by up to 2^-11 eV/Å
    shortest = np.minimum(np.linalg.norm(f, axis=1), np.linalg.norm(f0, axis=1))
    assert (np.abs(np.array(d_theta) - exact_theta) <= np.degrees(1.01 * np.sqrt(3) * 2**-11 / shortest)).all()
    assert re_errors_from_details({"delta_f_ev_a": [0.1], "delta_theta_deg": [2.0]}) == ([0.1], [2.0])  # old
    assert re_errors_from_details({"dataset": "x", "frames": [{"index": 0}]}) is None  # not RE details


def _angles_deg(f: np.ndarray, f0: np.ndarray) -> np.ndarray:
    cos = (f * f0).sum(1) / (np.linalg.norm(f, axis=1) * np.linalg.norm(f0, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))
