"""Calculator factories run in the sandbox child, under the time limit: one that segfaults, hangs or calls
sys.exit(0) is one clear error naming the spec, the CLI stays alive, and nothing is stored."""

from __future__ import annotations

import pytest

from mlipscope.cli import main

FACTORIES = """
import ctypes, os, sys, time

def segfault():
    ctypes.string_at(0)

def hang():
    time.sleep(3600)

def leave():
    sys.exit(0)
"""


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "bad_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize(("factory", "says"), [("segfault", "killing its process"), ("hang", "hung"),
                                               ("leave", "calculator")])  # fmt: skip
def test_a_misbehaving_factory_is_one_error_and_nothing_is_stored(factories, capsys, factory, says):
    db = factories / "r.duckdb"
    args = ["benchmark", "--calculator", f"bad_factories:{factory}", "--properties", "eos", "--db", str(db)]
    assert main([*args, "--time-limit", "3"]) == 2
    err = capsys.readouterr().err
    assert f"bad_factories:{factory}" in err and says in err and "Traceback" not in err
    assert not db.exists()
