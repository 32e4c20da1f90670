"""Help texts: every command shows an example and its options' defaults (never "default: None"), the calculator
option lists the named calculators from their registries, and ``--version`` prints the package version."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import pytest

import mlipscope
from mlipscope.calculators import named_calculator_forms, named_lammps
from mlipscope.cli import build_parser, main
from mlipscope.cli_help import EXAMPLES
from mlipscope.foundation_models import is_foundation_spec

REPO = Path(__file__).resolve().parents[1]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"mlipscope {mlipscope.__version__}\n"
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert mlipscope.__version__ == declared  # the package and its metadata say the same version


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_command_shows_an_example_and_its_defaults(command, capsys):
    text = _help(capsys, command)
    flat = " ".join(text.split())  # help lines wrap anywhere
    assert "example:" in text and f"\n  mlipscope {command}" in text.split("example:", 1)[1]
    assert "default: None" not in flat and "default: False" not in flat
    shown = 0
    for action in _subparsers()[command]._actions:
        default = action.default
        if not action.option_strings or default is None or default is False or default == argparse.SUPPRESS:
            continue
        value = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        assert f"(default: {value})" in flat, (command, action.dest)
        shown += 1
    # every command with options says at least one default (materials has no options)
    assert shown > 0 or "(default:" in flat or command == "materials"


def test_every_command_has_an_example_entry():
    assert set(EXAMPLES) == set(_subparsers())


def test_calculator_help_lists_the_named_calculators(capsys):
    flat = " ".join(_help(capsys, "benchmark").split())
    forms, elements = named_calculator_forms()
    for form in forms:
        assert form in flat, form
    for name in ("sw", "tersoff", "tersoff-t2", "mlearn-snap:<El>", "mlearn-qsnap:<El>", "inp-snap", "chgnet"):
        assert name in flat
    assert "Mo" in elements and ", ".join(elements) in flat


def test_named_forms_are_what_the_registries_resolve():
    forms, elements = named_calculator_forms()
    for form in forms:
        if form.startswith(("chgnet", "sevennet", "mace")):
            spec = form.replace("[:<version>]", "").replace("[:<model>]", "").replace("<file>", "model.pt")
            assert is_foundation_spec(spec), form
        else:  # a LAMMPS name: resolves to pair commands for each element of its <El> form
            for spec in [form.replace("<El>", el) for el in elements] if "<El>" in form else [form]:
                assert named_lammps(spec) is not None, spec
    assert named_lammps("not-a-name") is None
