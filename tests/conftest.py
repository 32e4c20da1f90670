"""Shared fixtures. Tests may read ../shared/data directly (SHARED_DATA); the package ships its own copy."""

from __future__ import annotations

import os
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MLIPSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set MLIPSCOPE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sw_calc():
    """LAMMPS Stillinger–Weber Si, shared across tests (LAMMPSlib handles changing cells and atom counts)."""
    from mlipscope.calculators import sw_silicon

    return sw_silicon()


class _Tables(HTMLParser):
    """The text of every table cell, per table and row (the stdlib is enough for the report's plain tables)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _tables_of(text: str) -> list[list[dict[str, str]]]:
    """Each table of a page as a list of {header: cell} rows."""
    parser = _Tables()
    parser.feed(text)
    return [[dict(zip(t[0], row, strict=True)) for row in t[1:]] for t in parser.tables if t]


@pytest.fixture
def html_tables():
    """A function: each table of an HTML page as a list of {header: cell text} rows."""
    return _tables_of


BROKEN_CALCULATOR = """
from ase.calculators.calculator import Calculator


class Broken(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        raise RuntimeError("broken on purpose")


def make():
    return Broken()
"""


@pytest.fixture
def broken(tmp_path, monkeypatch) -> str:
    """The spec of a calculator factory whose every calculation raises; importable here, by Dask workers and by
    sandbox children (PYTHONPATH)."""
    (tmp_path / "broken_calc.py").write_text(BROKEN_CALCULATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return "broken_calc:make"
