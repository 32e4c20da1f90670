"""The store never damages files: a foreign DuckDB file or a truncated results database is refused with a clear
error before anything is written, and `mlipscope analyze --db` opens the database read-only."""

from __future__ import annotations

import duckdb
import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.properties.base import ErrorRecord
from mlipscope.store.duckdb_store import ResultsStore


def _foreign(path):
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE measurements (t DOUBLE, value DOUBLE)")
    con.execute("INSERT INTO measurements VALUES (1.0, 2.0), (2.0, 4.0)")
    con.close()
    return path.read_bytes()


def _results(path):
    with ResultsStore(path) as store:
        model = store.register_model("external", {"calculator": "sw"}, path="sw")
        store.add_evaluation(model, "eos", "h", [ErrorRecord.compare("eos.a", 5.43, 5.47, "Å")], wall_time_s=1.0)
    return path.read_bytes()


@pytest.mark.parametrize("read_only", [False, True])
def test_foreign_duckdb_file_is_refused_and_unchanged(tmp_path, read_only):
    path = tmp_path / "theirs.duckdb"
    before = _foreign(path)
    with pytest.raises(InputError, match=r"an mlipscope results database.*measurements"):
        ResultsStore(path, read_only=read_only)
    assert path.read_bytes() == before


def test_truncated_results_database_is_refused_and_unchanged(tmp_path):
    path = tmp_path / "r.duckdb"
    data = _results(path)
    path.write_bytes(data[: len(data) // 2])
    before = path.read_bytes()
    with pytest.raises(InputError, match="an intact mlipscope results database"):
        ResultsStore(path)
    assert path.read_bytes() == before


def test_analyze_opens_read_only_and_refuses_foreign_files(tmp_path, capsys):
    foreign = tmp_path / "theirs.duckdb"
    before = _foreign(foreign)
    assert main(["analyze", "--db", str(foreign), "--out", str(tmp_path / "rep")]) == 2
    assert "an mlipscope results database" in capsys.readouterr().err
    assert foreign.read_bytes() == before
    ours = tmp_path / "r.duckdb"
    stored = _results(ours)
    main(["analyze", "--db", str(ours), "--out", str(tmp_path / "rep2")])
    assert ours.read_bytes() == stored  # read-only: not a byte written
