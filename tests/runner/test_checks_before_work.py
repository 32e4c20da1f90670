"""Everything a run needs is validated before the first fit, with errors against the user's file or arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob
from mlipscope.store.duckdb_store import ResultsStore

BASE = """
[run]
db = "run.duckdb"
out = "report"
models_dir = "models"
{run}
[data]
training_sets = ["si_original_train"]
[[ensemble]]
family = "snap"
n = {n}
{ensemble}
[[potentials]]
name = "SW"
calculator = "{calculator}"
[suite]
name = "si-quick"
properties = ["eos"]
{analysis}
"""


def _write(tmp_path: Path, *, run="", ensemble="", analysis="", n=1, calculator="sw") -> Path:
    path = tmp_path / "run.toml"
    path.write_text(BASE.format(run=run, ensemble=ensemble, analysis=analysis, n=n, calculator=calculator))
    return path


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"analysis": "[analysis]\nr2_threshold = 'high'"}, "analysis.r2_threshold"),
        ({"run": "workers = 0"}, "run.workers"),
        ({"run": "task_timeout_s = 0"}, "run.task_timeout_s"),
        ({"ensemble": 'seeds = ["one"]'}, "ensemble[0].seeds[0]"),
        ({"ensemble": 'fixed = { twojmax = "six" }'}, "ensemble[0].fixed.twojmax"),
        ({"ensemble": "fixed = { quadratic = 3.5 }"}, "ensemble[0].fixed.quadratic"),
    ],
)
def test_bad_settings_are_config_errors_at_load(tmp_path, kwargs, field):
    with pytest.raises(InputError) as info:
        load_config(_write(tmp_path, **kwargs))
    assert info.value.field == field and str(tmp_path / "run.toml") in str(info.value)


def test_bad_calculator_spec_of_a_potential_fails_before_any_fit(tmp_path):
    config = load_config(_write(tmp_path, calculator="no_such_module_xyz:make"))
    with pytest.raises(InputError, match=r"potentials\[0\].calculator.*no_such_module_xyz"):
        MainJob(config, show_progress=False).run()
    with ResultsStore(tmp_path / "run.duckdb", read_only=True) as store:
        assert len(store.models()) == 0 and not (tmp_path / "models").exists()


def test_negative_workers_on_the_command_line(tmp_path, capsys):
    assert main(["run", str(_write(tmp_path)), "--workers", "-1"]) == 2
    assert "'--workers': expected at least 1 worker" in capsys.readouterr().err


def test_large_ensemble_warns_with_the_counts(tmp_path, capsys):
    from rich.console import Console

    config = load_config(_write(tmp_path, n=30_000))
    job = MainJob(config, show_progress=False, console=Console(stderr=True, width=200))
    job._warn_if_large()
    assert "30,000 ensemble members planned" in capsys.readouterr().err


def test_sample_reports_errors_against_the_arguments(tmp_path, capsys):
    args = ["sample", "--family", "snap", "--n", "1", "--training-sets", "no_such_set", "--db", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "mlipscope sample: field '--training-sets'" in err and "sample.toml" not in err


def test_override_dataset_is_loaded_and_validated_at_config_load(tmp_path, monkeypatch):
    bad = tmp_path / "bad.extxyz"
    bad.write_text("not an xyz file\n")
    path = tmp_path / "run.toml"
    path.write_text(
        '[run]\ndb = "r.duckdb"\n[[potentials]]\nname = "SW"\ncalculator = "sw"\n[suite]\nname = "si-quick"\n'
        f'properties = ["errors_mlearn_test"]\noverrides = {{ errors_mlearn_test = {{ dataset = "{bad}" }} }}\n'
    )
    with pytest.raises(InputError, match=r"bad.extxyz.*extended XYZ.*read by suite property"):
        load_config(path)
