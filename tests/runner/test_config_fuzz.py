"""Variants of a run config: each is one InputError naming the config and the field, at load, before any work
(issue 21: ``task_timeout_s = inf`` was accepted, ``n = 0`` failed only at the report, an absolute material path was
refused, two potentials with one calculator were stored as one model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.materials import shipped_dir
from mlipscope.runner.config import load_config

GOOD = """
{top}
[run]
db = "r.duckdb"
{run}
[data]
training_sets = ["si_original_train"]
[[ensemble]]
family = "snap"
{ensemble}
[[potentials]]
name = "SW"
calculator = "sw"
{potentials}
[suite]
name = "si-quick"
properties = ["eos"]
{suite}
{extra}
"""


def _write(tmp_path: Path, *, top="", run="", ensemble="n = 2", potentials="", suite="", extra="") -> Path:
    path = tmp_path / "run.toml"
    text = GOOD.format(top=top, run=run, ensemble=ensemble, potentials=potentials, suite=suite, extra=extra)
    path.write_text(text)
    return path


VARIANTS = [  # (part of the config, text added there, the field the error names)
    ("run", "task_timeout_s = inf", "run.task_timeout_s"),
    ("run", "task_timeout_s = 1e300", "run.task_timeout_s"),
    ("run", "task_timeout_s = nan", "run.task_timeout_s"),
    ("run", "task_timeout_s = 604801", "run.task_timeout_s"),
    ("run", "task_timeout_s = -1", "run.task_timeout_s"),
    ("run", 'task_timeout_s = "900"', "run.task_timeout_s"),
    ("run", "task_timeout = 900", "run.task_timeout"),
    ("run", "workers = 0", "run.workers"),
    ("run", "workers = 1.5", "run.workers"),
    ("run", "workers = true", "run.workers"),
    ("run", "max_attempts = 0", "run.max_attempts"),
    ("run", 'linear_batch = "yes"', "run.linear_batch"),
    ("run", "linear_batch_size = 0", "run.linear_batch_size"),
    ("run", 'group_tasks = "all"', "run.group_tasks"),
    ("run", 'memory_limit = "lots"', "run.memory_limit"),
    ("run", "memory_limit = true", "run.memory_limit"),
    ("run", "progress_interval_s = 0", "run.progress_interval_s"),
    ("ensemble", "n = 0", "ensemble[0].n"),
    ("ensemble", "n = -1", "ensemble[0].n"),
    ("ensemble", "n = 1.5", "ensemble[0].n"),
    ("ensemble", 'n = 2\nsampler = "grid"', "ensemble[0].sampler"),
    ("ensemble", "n = 2\nseeds = [-1]", "ensemble[0].seeds[0]"),
    ("ensemble", "n = 2\nseeds = 3", "ensemble[0].seeds"),
    ("ensemble", 'n = 2\nmaterial = "unobtainium"', "ensemble[0].material"),
    ("potentials", "material = 3", "potentials[0].material"),
    ("potentials", '[[potentials]]\nname = "SW again"\ncalculator = "sw"', "potentials[1].calculator"),
    ("potentials", '[[potentials]]\nname = "no calculator"', "potentials[1].calculator"),
    ("suite", "reference = 3", "suite.reference"),
    ("suite", "overrides = { eos = 3 }", "suite.overrides.eos"),
    ("extra", "[analysis]\nn_bootstrap = -1", "analysis.n_bootstrap"),
    ("top", "analysis = 3", "analysis"),
    ("extra", '[material]\nname = "unobtainium"', "material.name"),
    ("extra", '[material]\nname = "si"\nfile = "si.yaml"', "material"),
    ("extra", "[quick.run]\ncolour = 1", "quick.run.colour"),
    ("extra", "[quick]\nsuites = 1", "quick.suites"),
    ("extra", "[runn]\nworkers = 1", "runn"),
]


@pytest.mark.parametrize(("part", "text", "field"), VARIANTS, ids=[f"{f}:{t}" for _, t, f in VARIANTS])
def test_variant_is_one_input_error_naming_config_and_field(tmp_path, part, text, field):
    path = _write(tmp_path, **{part: text})
    with pytest.raises(InputError) as info:  # any other exception fails the test
        load_config(path)
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_typo_in_a_key_suggests_the_key(tmp_path):
    with pytest.raises(InputError, match="did you mean 'task_timeout_s'"):
        load_config(_write(tmp_path, run="task_timeout = 900"))
    with pytest.raises(InputError, match="did you mean 'ensemble'"):
        load_config(_write(tmp_path, extra="[[ensembles]]\nfamily = 'snap'\nn = 1"))


def test_time_limit_bounds_are_accepted(tmp_path):
    assert load_config(_write(tmp_path, run="task_timeout_s = 604800")).task_timeout_s == 604800.0
    assert load_config(_write(tmp_path, run="task_timeout_s = 1")).task_timeout_s == 1.0


def test_absolute_material_file_is_accepted(tmp_path):
    material = tmp_path / "elsewhere" / "my_si.yaml"
    material.parent.mkdir()
    text = (shipped_dir() / "si.yaml").read_text().replace("reference: si_dft.yaml\n", "")
    material.write_text(text)
    config = load_config(_write(tmp_path, extra=f'[material]\nfile = "{material}"'))
    assert config.material == str(material.resolve())
    relative = load_config(_write(tmp_path, extra='[material]\nfile = "elsewhere/my_si.yaml"'))
    assert relative.material == config.material


def test_duplicate_potentials_name_both_entries(tmp_path):
    path = _write(tmp_path, potentials='[[potentials]]\nname = "SW again"\ncalculator = "sw"')
    with pytest.raises(InputError, match=r"potentials\[0\] \('SW'\) and potentials\[1\] \('SW again'\)"):
        load_config(path)


def test_one_calculator_on_two_materials_is_two_models(tmp_path):
    config = load_config(
        _write(tmp_path, potentials='[[potentials]]\nname = "SW on Ge"\ncalculator = "sw"\nmaterial = "ge"')
    )
    assert [(p.calculator, p.material) for p in config.potentials] == [("sw", None), ("sw", "ge")]


@pytest.mark.parametrize("limit", ["inf", "nan", "1e300", "0", "-5"])
def test_benchmark_time_limit_is_one_clear_error(tmp_path, capsys, limit):
    db = tmp_path / "r.duckdb"
    assert main(["benchmark", "--calculator", "sw", "--properties", "eos", "--time-limit", limit, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "'--time-limit': expected a positive, finite number of seconds" in err and "Traceback" not in err
    assert not db.exists()
