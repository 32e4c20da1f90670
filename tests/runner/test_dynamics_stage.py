"""The run's dynamics stage end to end: the models are chosen by RE metrics and by force RMSE from the stored
errors, MD diffusion runs on them (typed outcomes stored, failed ones with their MD runs), the report has the
dynamics section, and a rerun repeats nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mlipscope.analysis.table import wide_error_table
from mlipscope.properties.diffusion import OUTCOMES
from mlipscope.report.dynamics_section import SELECTION_META_KEY
from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob
from mlipscope.store.duckdb_store import ResultsStore

CONFIG = """
[run]
db = "run.duckdb"
out = "report"
models_dir = "models"
workers = 2
task_timeout_s = 300
[[potentials]]
name = "Stillinger-Weber"
calculator = "sw"
[[potentials]]
name = "Tersoff"
calculator = "tersoff"
[suite]
name = "si-default"
properties = ["errors_mlearn_test", "re_vacancy", "eos"]
overrides = { re_vacancy = { max_frames = 12 } }
[dynamics]
k = 1
include_potentials = true
properties = ["diffusion_vacancy"]
[dynamics.overrides.diffusion_vacancy]
temperatures_k = [1300, 1450]
replica_ps = 5.0
timestep_fs = 2.0
min_replicas = 1
max_replicas = 1
target_hops = 4
min_hops = 2
block_ps = 1.0
equilibration_ps = 0.5
neb = { n_images = 3, fmax = 0.05 }
"""


@pytest.mark.slow
def test_dynamics_stage_chooses_runs_and_reports(tmp_path: Path):
    (tmp_path / "run.toml").write_text(CONFIG)
    config = load_config(tmp_path / "run.toml")
    summary = MainJob(config, show_progress=False).run()
    with ResultsStore(tmp_path / "run.duckdb", read_only=True) as store:
        selection = json.loads(store.get_meta(SELECTION_META_KEY))
        errors = wide_error_table(store.records(), store.models())
        evaluations = store.evaluations()
        chosen = {m for ids in selection["groups"].values() for m in ids}
        # the choice follows the stored errors: lowest RE_F/RE_A percentile, lowest test-set force RMSE
        rmse = errors["errors_mlearn_test.force_rmse_ev_a"]
        assert selection["groups"]["force RMSE"] == [rmse.idxmin()]
        assert selection["labels"] == ["diffusion_vacancy"] and len(selection["groups"]["RE metrics"]) == 1
        md = evaluations[evaluations["property_label"] == "diffusion_vacancy"].drop_duplicates("model_id")
        assert set(md["model_id"]) == chosen  # MD ran on the chosen models only
        for model_id, status in md[["model_id", "status"]].itertuples(index=False):
            details = store.evaluation_details(
                model_id, "diffusion_vacancy", md.set_index("model_id").loc[model_id, "config_hash"]
            )
            assert details["md_runs"], "every diffusion evaluation keeps its MD runs, ok or failed"
            if status == "failed":
                assert details["failure_kind"] in OUTCOMES and details["failure_kind"] != "ok"
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Dynamics: RE-selected vs RMSE-selected models" in page
    assert (tmp_path / "report" / "figures" / "md_survival.png").is_file()
    comparison = pd.read_csv(tmp_path / "report" / "tables" / "dynamics_comparison.csv")
    assert set(comparison["group"]) == {"RE metrics", "force RMSE"}
    # the main analysis does not see the MD columns (they exist for the chosen models only)
    assert (
        "diffusion_vacancy" not in pd.read_csv(tmp_path / "report" / "tables" / "difficulty.csv")["property"].str.cat()
    )
    assert summary.n_evaluations == 2 * 3 + len(chosen)
    again = MainJob(load_config(tmp_path / "run.toml"), show_progress=False).run()
    assert again.n_evaluations == 0
