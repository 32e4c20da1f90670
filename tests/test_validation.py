"""The adapter from pydantic schemas to one InputError: file, dotted field path, expected, got, "did you mean"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import pytest
from pydantic import Field, StrictInt

from mlipscope.errors import InputError
from mlipscope.validation import (
    DATACLASS_CONFIG,
    MAX_SECONDS,
    NONE_AS_EMPTY,
    Schema,
    Seconds,
    check_seconds,
    checked,
    expect,
    field_path,
    load_yaml,
    validate,
)


class Member(Schema):
    expected_text: ClassVar[str] = "an [[ensemble]] table"
    family: str
    n: int = expect("a positive number of members", ge=1)
    seeds: list[Annotated[int, Field(ge=0)]] = expect("non-negative integer seeds", [0])
    limit: Seconds = 60.0


class Options(Schema):
    flag: bool = True
    mode: Annotated[str, checked(lambda v: v in ("a", "b"), "'a' or 'b'")] = "a"
    sizes: Annotated[dict[str, int], NONE_AS_EMPTY] = {}
    ratio: float = Field(0.5, ge=0, le=1)


class File(Schema):
    ensemble: list[Member] = []
    options: Annotated[Options, NONE_AS_EMPTY] = Options()


@dataclass
class Settings:
    __pydantic_config__ = DATACLASS_CONFIG
    count: Annotated[StrictInt, expect("a count >= 2", ge=2)] = 2
    names: list[str] = field(default_factory=list)


def _error(schema: Any, data: Any, prefix: str = "") -> InputError:
    with pytest.raises(InputError) as info:
        validate(schema, data, "run.toml", prefix=prefix)
    return info.value


@pytest.mark.parametrize(
    ("data", "field", "expected", "got"),
    [
        ({"ensemble": [{"family": "snap", "n": 0}]}, "ensemble[0].n", "a positive number of members", 0),
        ({"ensemble": [{"family": "snap", "n": "4"}]}, "ensemble[0].n", "a positive number of members", "4"),
        ({"ensemble": [{"family": "snap", "n": 1, "seeds": [0, -1]}]}, "ensemble[0].seeds[1]", "non-negative", -1),
        ({"ensemble": [{"n": 1}]}, "ensemble[0].family", "a value (required)", None),
        ({"ensemble": [3]}, "ensemble[0]", "an [[ensemble]] table", 3),
        ({"ensemble": {"family": "snap"}}, "ensemble", "a list", {"family": "snap"}),
        ({"options": {"flag": "no"}}, "options.flag", "true or false", "no"),
        ({"options": {"flag": 1}}, "options.flag", "true or false", 1),
        ({"options": {"mode": "c"}}, "options.mode", "'a' or 'b'", "c"),
        ({"options": {"sizes": {"x.y": 1.5}}}, "options.sizes.x.y", "an integer", 1.5),
        ({"options": {"ratio": 2}}, "options.ratio", "a number <= 1", 2),
        ({"options": [1]}, "options", "a mapping of settings", [1]),
        ([1, 2], "file contents", "a mapping of settings", [1, 2]),
    ],
)
def test_one_error_names_file_field_expected_and_got(data, field, expected, got):
    error = _error(File, data)
    assert (error.source, error.field, error.got) == ("run.toml", field, got)
    assert expected in error.expected
    assert str(error).startswith(f"run.toml: field '{field}': expected ")


@pytest.mark.parametrize("limit", [float("inf"), float("nan"), 1e300, 0, -1, MAX_SECONDS + 1, True, "60"])
def test_seconds_are_positive_finite_and_bounded(limit):
    error = _error(File, {"ensemble": [{"family": "snap", "n": 1, "limit": limit}]})
    assert error.field == "ensemble[0].limit" and "finite number of seconds" in error.expected
    with pytest.raises(InputError, match="'--time-limit'"):
        check_seconds(limit, "mlipscope benchmark", "--time-limit")
    assert check_seconds(MAX_SECONDS, None, "--time-limit") == MAX_SECONDS


def test_unknown_key_is_reported_first_with_the_near_key():
    error = _error(File, {"ensemble": [{"famly": "snap", "n": 1}]})  # family is also missing: the typo is the cause
    assert error.field == "ensemble[0].famly"
    assert "unknown key; did you mean 'family'?" in error.expected and "'seeds'" in error.expected
    assert "did you mean" not in _error(File, {"zzz": 1}).expected


def test_prefix_and_dataclass_schemas():
    assert validate(Settings, {"count": 3}, "a.yaml") == Settings(count=3)
    error = _error(Settings, {"count": 1}, prefix="analysis")
    assert (error.field, error.expected) == ("analysis.count", "a count >= 2")
    error = _error(Settings, {"cuont": 3}, prefix="analysis")
    assert error.field == "analysis.cuont" and "did you mean 'count'?" in error.expected
    assert _error(Settings, {"names": "x"}, prefix="analysis").field == "analysis.names"


def test_empty_tables_written_as_nothing_and_valid_data():
    config = validate(File, {"options": None, "ensemble": [{"family": "snap", "n": 2, "limit": 5}]}, "run.toml")
    assert config.options == Options() and config.ensemble[0].limit == 5.0 and config.ensemble[0].seeds == [0]


def test_field_path():
    assert field_path("", ("ensemble", 2, "n")) == "ensemble[2].n"
    assert field_path("analysis", ("thresholds", "eos.a")) == "analysis.thresholds.eos.a"
    assert field_path("", ("surfaces", 0, 1)) == "surfaces[0][1]"


def test_yaml_files_read_as_safe_load_reads_them():
    from importlib.resources import files

    import yaml

    shipped = [p for d in ("materials", "reference") for p in (files("mlipscope") / "package_data" / d).iterdir()]
    texts = [p.read_text() for p in shipped if p.name.endswith(".yaml")]
    assert len(texts) > 5
    for text in texts:
        assert load_yaml(text) == yaml.safe_load(text)
    assert load_yaml("a: [1, 2.5, no, '3']\nb: {c: null}") == {"a": [1, 2.5, False, "3"], "b": {"c": None}}
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2\nb: 3")
    with pytest.raises(yaml.constructor.ConstructorError):  # still a safe loader: no Python objects
        load_yaml("!!python/object/apply:os.system ['true']")
