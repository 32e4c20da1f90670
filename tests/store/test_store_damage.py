"""A results database cut short (a full disk, an interrupted copy) is refused before anything reads or writes it:
one InputError line naming the file, what is wrong and what to do; the file keeps every byte (issue 21)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord
from mlipscope.store.duckdb_store import ResultsStore

FRACTIONS = (0.5, 0.97, 0.99)


@pytest.fixture(scope="module")
def intact(tmp_path_factory):
    """A realistic database (models, ok and failed evaluations with values and details, a run plan), closed."""
    path = tmp_path_factory.mktemp("db") / "results.duckdb"
    with ResultsStore(path) as store:
        plan = []
        for i in range(60):
            model = store.register_model("snap", {"twojmax": 6, "i": i}, seed=i, training_set_name="si")
            with store.batch():
                for label in ("eos", "elastic_perfect", "vacancy_108"):
                    values = [ErrorRecord.compare(f"{label}.x{j}", j + 0.1 * i, j, "eV") for j in range(6)]
                    store.add_evaluation(model, label, "h", values, wall_time_s=1.0, details={"curve": list(range(80))})
                    plan.append((model, label, "h"))
            store.add_failed_evaluation(model, "phonons_perfect", "h", "imaginary modes", kind=FailureKind.NON_PHYSICAL)
        store.record_run_plan(plan, name="damage test")
    return path


def _cut(intact, tmp_path, fraction):
    data = intact.read_bytes()
    path = tmp_path / f"cut-{int(fraction * 100)}.duckdb"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path, path.read_bytes()


def test_the_intact_database_opens(intact):
    with ResultsStore.open_for_reading(intact) as store:
        assert store.run_status().evaluations["done"] == 180


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_a_cut_database_is_refused_for_writing_and_reading_and_unchanged(intact, tmp_path, fraction):
    path, before = _cut(intact, tmp_path, fraction)
    with pytest.raises(InputError) as writing:
        ResultsStore(path)
    assert path.read_bytes() == before  # not grown, not a byte changed
    assert str(path) in str(writing.value) and "cut short" in str(writing.value)
    for open_store in (lambda: ResultsStore(path, read_only=True), lambda: ResultsStore.open_for_reading(path)):
        with pytest.raises(InputError, match="cut short"):
            open_store()
    assert path.read_bytes() == before


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_status_of_a_cut_database_is_one_error_line(intact, tmp_path, fraction):
    path, before = _cut(intact, tmp_path, fraction)
    done = subprocess.run(
        [sys.executable, "-m", "mlipscope", "status", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlipscope: error:") and str(path) in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout and done.stdout == ""
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        ["export", "--out", "{tmp}/export"],
        ["analyze", "--out", "{tmp}/report"],
        ["benchmark", "--calculator", "sw", "--properties", "eos"],
    ],
)
def test_readers_and_writers_of_the_cli_refuse_a_cut_database(intact, tmp_path, capsys, command):
    path, before = _cut(intact, tmp_path, 0.97)
    argv = [part.format(tmp=tmp_path) for part in command] + ["--db", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cut short" in err[0] and str(path) in err[0]
    assert path.read_bytes() == before
