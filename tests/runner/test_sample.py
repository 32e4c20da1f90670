"""``mlipscope sample`` builds its run from the command line (no config file written) and names the argument in
its errors; the run fits the ensemble and stores it through the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.runner.sample import sample_config
from mlipscope.store.duckdb_store import ResultsStore

ARGS = dict(family="snap", n=2, training_sets=["si_original_train"], seeds=[0], sampler="sobol", sampler_seed=0)


def test_the_run_is_built_from_the_arguments(tmp_path):
    config = sample_config(**ARGS, db_path=tmp_path / "s.duckdb", models_dir=tmp_path / "models")
    (ensemble,) = config.ensembles
    assert (ensemble.family, ensemble.n, ensemble.training_sets) == ("snap", 2, ["si_original_train"])
    assert config.db_path == (tmp_path / "s.duckdb").resolve() and config.models_dir == (tmp_path / "models").resolve()
    assert [p.label for p in config.properties_for()] == ["errors_mlearn_test"]
    assert list(tmp_path.iterdir()) == []  # nothing written to reach the engine


@pytest.mark.parametrize(
    ("change", "argument"),
    [
        ({"family": "nope"}, "--family"),
        ({"n": -1}, "--n"),
        ({"sampler": "grid"}, "--sampler"),
        ({"seeds": [-2]}, "--seeds"),
        ({"training_sets": ["missing.extxyz"]}, "--training-sets"),
        ({"training_sets": []}, "--training-sets"),
    ],
)
def test_bad_arguments_are_named(tmp_path, change, argument):
    with pytest.raises(InputError) as info:
        sample_config(**{**ARGS, **change}, db_path=tmp_path / "s.duckdb", models_dir=tmp_path / "models")
    assert info.value.field == argument and str(info.value.source) == "mlipscope sample"


@pytest.mark.slow
def test_sample_fits_and_registers_the_ensemble(tmp_path):
    db = tmp_path / "s.duckdb"
    args = ["sample", "--family", "snap", "--n", "2", "--training-sets", "si_original_train"]
    assert main([*args, "--db", str(db), "--models-dir", str(tmp_path / "models")]) == 0
    with ResultsStore(db, read_only=True) as store:
        models, records = store.models(), store.records()
    assert len(models) == 2 and (models["family"] == "snap").all() and (models["status"] == "ok").all()
    assert set(records["property_label"]) == {"errors_mlearn_test"} and (records["status"] == "ok").all()
    assert all(Path(p).is_dir() for p in models["path"])
