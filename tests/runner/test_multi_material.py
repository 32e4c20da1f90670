"""A run over several materials: fitted and existing potentials each on their own material, one report per
material and a cross-material index; species mismatches are config errors before any work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlipscope.errors import InputError
from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob
from mlipscope.store.duckdb_store import ResultsStore

CONFIG = """
[run]
db = "run.duckdb"
out = "report"
models_dir = "models"
workers = 2
[material]
name = "mo"
[[ensemble]]
family = "snap"
n = 2
training_sets = ["mo_mlearn_train"]
fixed = {{ quadratic = false, twojmax = 4 }}
[[potentials]]
name = "mlearn SNAP Mo"
calculator = "mlearn-snap:Mo"
[[potentials]]
name = "mlearn SNAP Cu"
calculator = "mlearn-snap:Cu"
material = "cu"
[[potentials]]
name = "SW"
calculator = "{sw_calculator}"
material = "{sw_material}"
[suite]
name = "quick"
properties = ["errors_mlearn_test", "eos", "vacancy_54", "vacancy_108", "vacancy_64"]
"""


def _config(tmp_path: Path, sw_material: str = "si", sw_calculator: str = "sw") -> Path:
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(sw_material=sw_material, sw_calculator=sw_calculator))
    return path


@pytest.mark.slow
def test_each_model_is_evaluated_on_its_material_and_reported_per_material(tmp_path):
    config = load_config(_config(tmp_path))
    assert config.materials() == ["mo", "cu", "si"]
    summary = MainJob(config, show_progress=False).run()
    assert summary.n_fits_failed == 0 and summary.n_models_planned == 5
    with ResultsStore(tmp_path / "run.duckdb", read_only=True) as store:
        evaluations, models = store.evaluations(), store.models()
    names = models.set_index("model_id")["training_set_name"]
    labels = evaluations.groupby("model_id")["property_label"].apply(set)
    expected = {
        "mlearn SNAP Mo": {"errors_mlearn_test", "eos", "vacancy_54"},
        "mlearn SNAP Cu": {"errors_mlearn_test", "eos", "vacancy_108"},
        "SW": {"errors_mlearn_test", "eos", "vacancy_64"},
    }
    for model_id, label_set in labels.items():
        name = names[model_id]
        assert label_set == expected.get(name, expected["mlearn SNAP Mo"]), name  # fitted SNAPs are Mo models
    assert (evaluations["status"] == "ok").all()
    cu = evaluations[(evaluations["name"] == "eos.lattice_constant_a")].set_index("model_id")
    cu_id = names[names == "mlearn SNAP Cu"].index[0]
    assert cu.loc[cu_id, "value"] == pytest.approx(3.6338, abs=2e-3)  # the Cu SNAP's own lattice constant
    assert cu.loc[cu_id, "reference"] == pytest.approx(3.635, abs=1e-3)  # against Cu's reference, not Mo's
    index = (tmp_path / "report" / "index.html").read_text()
    for material in ("mo", "cu", "si"):
        assert (tmp_path / "report" / material / "index.html").is_file()
        assert f'href="{material}/index.html"' in index
    medians = pd.read_csv(tmp_path / "report" / "cross_material_medians.csv")
    assert set(medians["material"]) == {"mo", "cu", "si"}
    assert medians.loc[medians["material"] == "mo", "n_models"].sum() == 3


def test_species_mismatch_is_a_config_error_before_any_work(tmp_path):
    config = load_config(_config(tmp_path, sw_material="mo"))
    with pytest.raises(InputError, match=r"material 'mo' \['Mo'\].*model 'SW' knows \['Si'\]"):
        MainJob(config, show_progress=False).run()
    with ResultsStore(tmp_path / "run.duckdb", read_only=True) as store:
        assert len(store.models()) == 0  # nothing registered, nothing fitted
