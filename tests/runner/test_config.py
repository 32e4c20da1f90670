from pathlib import Path

import pytest

from mlipscope.errors import InputError
from mlipscope.runner.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "si.toml"

GOOD = """
[run]
db = "r.duckdb"
[data]
training_sets = ["si_original_train"]
[[ensemble]]
family = "snap"
n = 4
[suite]
name = "si-quick"
properties = ["eos"]
[quick.suite]
properties = ["errors_mlearn_test"]
"""


def _write(tmp_path, text) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_shipped_example_is_valid_in_both_profiles():
    full, quick = load_config(EXAMPLE), load_config(EXAMPLE, quick=True)
    assert len({e.family for e in full.ensembles}) >= 4
    assert quick.suite_properties and len(quick.suite_properties) < 10
    assert quick.db_path != full.db_path


def test_good_config_and_quick_merge(tmp_path):
    cfg = load_config(_write(tmp_path, GOOD))
    assert cfg.db_path == tmp_path / "r.duckdb"
    assert cfg.ensembles[0].training_sets == ["si_original_train"]
    assert cfg.suite_properties == ["eos"]
    assert load_config(_write(tmp_path, GOOD), quick=True).suite_properties == ["errors_mlearn_test"]


@pytest.mark.parametrize(
    "old, new, field, expected",
    [
        ('db = "r.duckdb"', 'db = "r.duckdb"\ncolour = "red"', "run.colour", "unknown key"),
        ("n = 4", 'n = "four"', "ensemble[0].n", "a positive number of members"),
        ('family = "snap"', 'family = "nonsense"', "ensemble[0].family", "one of"),
        ('["si_original_train"]', '["missing.extxyz"]', "data.training_sets[0]", "existing file"),
        ('properties = ["eos"]', 'properties = ["no_such_property"]', "suite.properties", "labels of suite"),
        ('name = "si-quick"', 'name = "si-quick"\nreference = "nope.yaml"', "suite.reference", "existing"),
        ("[[ensemble]]", "[[ensembel]]", "ensembel", "unknown key"),
        ("n = 4", "n = 4\nfixed = { twojmax_typo = 6 }", "ensemble[0].fixed.twojmax_typo", "a hyperparameter of snap"),
    ],
)
def test_bad_configs_fail_before_work_with_clear_errors(tmp_path, old, new, field, expected):
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and f"'{field}'" in message and expected in message


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(InputError, match="existing TOML"):
        load_config(tmp_path / "absent.toml")
    with pytest.raises(InputError, match="valid TOML"):
        load_config(_write(tmp_path, "[run\n"))


def test_ensemble_descriptor_points(tmp_path):
    cfg = load_config(_write(tmp_path, GOOD.replace("n = 4", "n = 4\ndescriptor_points = 2", 1)))
    assert cfg.ensembles[0].descriptor_points == 2
    assert load_config(_write(tmp_path, GOOD)).ensembles[0].descriptor_points is None
    for bad, expected in (("3", "a divisor of n = 4"), ("0", "a positive integer"), ('"two"', "an integer")):
        path = _write(tmp_path, GOOD.replace("n = 4", f"n = 4\ndescriptor_points = {bad}", 1))
        with pytest.raises(InputError, match="ensemble\\[0\\].descriptor_points") as info:
            load_config(path)
        assert expected in str(info.value)
    path = _write(
        tmp_path, GOOD.replace('family = "snap"', 'family = "gap"').replace("n = 4", "n = 4\ndescriptor_points = 2")
    )
    with pytest.raises(InputError, match="descriptor hyperparameters"):
        load_config(path)


def test_ensemble_ranges_are_checked_against_the_family_space(tmp_path):
    ranged = GOOD.replace("n = 4", "n = 4\nranges = { rcutfac = [4.2, 4.8] }")
    assert load_config(_write(tmp_path, ranged)).ensembles[0].ranges == {"rcutfac": [4.2, 4.8]}
    for text, field in [
        (GOOD.replace("n = 4", "n = 4\nranges = { rcutfac = [4.2, 9.0] }"), "ensemble[0].ranges.rcutfac"),
        (GOOD.replace("n = 4", "n = 4\nranges = { colour = [1, 2] }"), "ensemble[0].ranges.colour"),
        (
            GOOD.replace("n = 4", "n = 4\nfixed = { rcutfac = 4.5 }\nranges = { rcutfac = [4.2, 4.8] }"),
            "ensemble[0].ranges.rcutfac",
        ),
    ]:
        with pytest.raises(InputError) as info:
            load_config(_write(tmp_path, text))
        assert info.value.field == field and str(info.value.source) == str(tmp_path / "run.toml")
