"""Grouped and batched evaluation tasks give the same stored results as one task per (model, property)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob
from mlipscope.store.duckdb_store import ResultsStore

CONFIG = """
[run]
db = "{db}"
out = "{out}"
models_dir = "models"
workers = 2
group_tasks = "{group}"
linear_batch = {batch}
[data]
training_sets = ["si_original_train"]
[[ensemble]]
family = "snap"
n = 3
descriptor_points = 1         # three regression settings on one descriptor setting: one batch
fixed = {{ quadratic = false, twojmax = 4 }}
[[potentials]]
name = "SW"
calculator = "sw"
[suite]
name = "si-default"
properties = ["errors_mlearn_test", "re_vacancy", "eos"]
overrides = {{ re_vacancy = {{ max_frames = 10 }} }}
"""


def _run(tmp_path: Path, name: str, group: str, batch: bool):
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG.format(db=f"{name}.duckdb", out=f"{name}-report", group=group, batch=str(batch).lower()))
    summary = MainJob(load_config(path), show_progress=False).run()
    with ResultsStore(tmp_path / f"{name}.duckdb", read_only=True) as store:
        evaluations = store.evaluations()
        models = store.models()
        details = {
            (m, label): store.evaluation_details(m, label, h)
            for m, label, h in evaluations[["model_id", "property_label", "config_hash"]]
            .drop_duplicates()
            .itertuples(index=False)
        }
    return evaluations, details, summary, models


@pytest.mark.slow
def test_grouped_and_batched_tasks_store_what_single_tasks_store(tmp_path):
    single, _, single_summary, _ = _run(tmp_path, "single", "none", False)
    grouped, details, summary, models = _run(tmp_path, "grouped", "model", True)
    assert single_summary.n_tasks == {"fit": 3, "single": 12}
    # grouped: the three SNAP fits in one chunk, their EOS in one task, SW's three properties in one task
    assert summary.n_tasks == {"fit chunk": 1, "grouped": 2, "linear batch": 2}
    snap_costs = models.loc[models["family"] == "snap", "eval_cost_s_per_atom_step"]
    assert len(snap_costs) == 3 and snap_costs.nunique() == 1 and snap_costs.iloc[0] > 0  # measured once
    assert (single["status"] == "ok").all() and (grouped["status"] == "ok").all()
    # the time inside the models is summed over every path, batched included (the overhead benchmark reads it)
    for run in (single_summary, summary):
        assert 0 < run.calculator_time_s < run.evaluation_task_time_s
    key = ["model_id", "name"]
    a = single.set_index(key).sort_index()
    b = grouped.set_index(key).sort_index()
    assert a.index.equals(b.index) and len(a) > 50
    assert np.allclose(a["value"].to_numpy(float), b["value"].to_numpy(float), rtol=0, atol=1e-8, equal_nan=True)
    # the SNAP members' dataset and rare-event errors came from one batch per property; SW's never batch
    batched = {k for k, d in details.items() if d and "batched" in d}
    snap = {m for m in grouped["model_id"] if m.startswith("snap")}
    assert batched == {(m, label) for m in snap for label in ("errors_mlearn_test", "re_vacancy")}
    assert all(details[(m, "re_vacancy")]["batched"]["members_in_task"] == 3 for m in snap)
