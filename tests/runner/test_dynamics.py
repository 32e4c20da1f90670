"""The dynamics stage's choices: k best by RE metrics and by force RMSE, the cost limit, config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.dynamics import dynamics_comparison
from mlipscope.errors import InputError
from mlipscope.runner.dynamics import GROUP_RE, GROUP_RMSE, DynamicsSpec, choose_models


def _errors() -> pd.DataFrame:
    ids = [f"m{i}" for i in range(6)]
    return pd.DataFrame(
        {
            "re_vacancy.re_f_ev_a": [0.1, 0.2, 0.3, 0.4, 0.5, np.nan],
            "re_vacancy.re_a": [0.2, 0.1, 0.3, 0.4, 0.5, 0.05],
            "errors_mlearn_test.force_rmse_ev_a": [0.5, 0.4, 0.3, 0.2, 0.1, 0.05],
            "errors_mlearn_test.Bulk.force_rmse_ev_a": [0.0] * 6,  # per config type: not the whole-set RMSE
            "diffusion_vacancy.activation_energy_ev": [0.05, 0.1, np.nan, 0.3, 0.4, 0.5],
        },
        index=ids,
    )


def test_k_best_by_re_metrics_and_by_force_rmse():
    spec = DynamicsSpec(k=2)
    groups = choose_models(_errors(), spec)
    assert groups[GROUP_RE] == ["m0", "m1"]  # mean RE percentile; m5 failed an RE metric and is not chosen
    assert groups[GROUP_RMSE] == ["m5", "m4"]
    assert choose_models(_errors(), spec, candidates=["m1", "m2", "m3"]) == {
        GROUP_RE: ["m1", "m2"],
        GROUP_RMSE: ["m3", "m2"],
    }


def test_candidates_apply_the_cost_limit_and_leave_out_potentials():
    models = pd.DataFrame(
        {
            "model_id": ["a", "b", "c", "sw", "bad"],
            "family": ["snap", "gap", "pod", "external", "snap"],
            "status": ["ok", "ok", "ok", "ok", "failed"],
            "eval_cost_s_per_atom_step": [1e-4, 2e-3, np.nan, np.nan, 1e-4],
        }
    )
    assert DynamicsSpec(max_cost_s_per_atom_step=3e-4).candidates(models) == (["a", "c"], 1)
    assert DynamicsSpec(include_potentials=True).candidates(models) == (["a", "b", "c", "sw"], 0)


def test_comparison_counts_failed_fits_as_outside_the_threshold():
    errors = _errors()
    values = errors.copy()
    survival = pd.DataFrame({"md_survival.n_failures": [0.0, 1.0]}, index=["m0", "m2"])
    groups = {GROUP_RE: ["m0", "m2"], GROUP_RMSE: ["m3", "m4"]}
    table = dynamics_comparison(
        values, errors, groups, survival, {"diffusion_vacancy.activation_energy_ev": 0.15}, ["diffusion_vacancy"]
    ).set_index("group")
    assert table.loc[GROUP_RE, "n_arrhenius_fits"] == 1
    assert table.loc[GROUP_RE, "share_within_threshold"] == 0.5  # m2's failed fit is not within
    assert table.loc[GROUP_RMSE, "median_abs_ea_error_ev"] == pytest.approx(0.35)
    assert table.loc[GROUP_RE, "md_failures"] == 1.0


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"k": 0}, "dynamics.k"),
        ({"properties": []}, "dynamics.properties"),
        ({"max_cost_s_per_atom_step": -1}, "dynamics.max_cost_s_per_atom_step"),
        ({"kk": 1}, "dynamics.kk"),
    ],
)
def test_bad_dynamics_tables_name_the_field(table, field):
    with pytest.raises(InputError, match=field.replace(".", r"\.")) as info:
        DynamicsSpec.from_table(Path("run.toml"), table)
    assert "run.toml" in str(info.value)
