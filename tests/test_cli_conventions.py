"""`suites --suite` lists one suite (a misspelt name is an error with a suggestion) and `materials` has a header."""

from __future__ import annotations

import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.materials import shipped_material_names
from mlipscope.properties.suite import suite_entries


def _suite_headers(out: str) -> list[str]:
    return [line[:-1] for line in out.splitlines() if line and not line.startswith(" ")]


def test_suites_with_a_suite_lists_only_that_suite(capsys):
    assert main(["suites", "--suite", "si-quick"]) == 0
    out = capsys.readouterr().out
    assert _suite_headers(out) == ["si-quick"]
    labels = [line.split()[0] for line in out.splitlines()[1:]]
    assert labels == [e.label for e in suite_entries("si-quick")]
    # a kind alone is that kind of the chosen material
    assert main(["suites", "--material", "mo", "--suite", "quick"]) == 0
    out = capsys.readouterr().out
    assert _suite_headers(out) == ["mo-quick"]
    assert [line.split()[0] for line in out.splitlines()[1:]] == [e.label for e in suite_entries("mo-quick")]


def test_suites_without_a_suite_lists_every_suite(capsys):
    assert main(["suites"]) == 0
    headers = _suite_headers(capsys.readouterr().out)
    assert len(headers) == 4 * len(shipped_material_names()) and "si-default" in headers


def test_unknown_suite_names_the_known_ones_and_the_nearest(capsys):
    assert main(["suites", "--suite", "si-quik"]) == 2
    err = capsys.readouterr().err
    assert "field '--suite'" in err and "did you mean 'si-quick'?" in err and "'mo-full'" in err
    from mlipscope.cli import build_parser, cmd_suites

    with pytest.raises(InputError, match="si-quik"):
        cmd_suites(build_parser().parse_args(["suites", "--suite", "si-quik"]))


def test_materials_prints_a_header_aligned_with_its_columns(capsys):
    assert main(["materials"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1:]
    assert header.split()[:4] == ["name", "species", "prototype", "description"]
    assert [r.split()[0] for r in rows] == shipped_material_names()
    start = {col: header.index(col) for col in ("species", "prototype", "description")}
    si = next(r for r in rows if r.startswith("si "))
    assert si[start["species"] :].startswith("Si ") and si[start["prototype"] :].startswith("diamond ")
    assert si[start["description"] :].startswith("Silicon")
