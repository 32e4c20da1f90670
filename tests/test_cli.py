"""The command line: the SW benchmark table end to end, JSON output, and clear errors for bad input."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlipscope.cli import main


def test_benchmark_sw_json(tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    args = [
        "benchmark",
        "--calculator",
        "sw",
        "--suite",
        "si-quick",
        "--db",
        str(db),
        "--json",
        "--properties",
        "eos",
        "elastic_perfect",
    ]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    values = {r["name"]: r for r in out["results"]}
    # Stillinger–Weber Si: a = 5.431 Å, C11/C12/C44 = 151.4/76.4/56.4 GPa (relaxed ions)
    assert values["eos.lattice_constant_a"]["value"] == pytest.approx(5.431, abs=2e-3)
    assert values["elastic_perfect.c11_gpa"]["value"] == pytest.approx(151.4, abs=1.5)
    assert values["elastic_perfect.c12_gpa"]["value"] == pytest.approx(76.4, abs=1.5)
    assert values["elastic_perfect.c44_gpa"]["value"] == pytest.approx(56.4, abs=1.5)
    c11 = values["elastic_perfect.c11_gpa"]
    assert c11["reference"] == pytest.approx(153.29) and c11["absolute_error"] == pytest.approx(
        abs(c11["value"] - 153.29)
    )
    # the second run resumes: nothing recomputed, same rows
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert {r["name"]: r["value"] for r in again["results"]} == {r["name"]: r["value"] for r in out["results"]}


def test_benchmark_table(tmp_path, capsys):
    assert (
        main(
            [
                "benchmark",
                "--calculator",
                "sw",
                "--suite",
                "si-quick",
                "--properties",
                "surface_100",
                "--db",
                str(tmp_path / "r.duckdb"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "surface_100.surface_energy_j_m2" in out and "2.356" in out  # SW (100): 2 broken bonds per atom


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["benchmark", "--calculator", "no_such_module:make"], "field 'calculator'"),
        (["benchmark", "--calculator", "sw", "--suite", "nope"], "field 'suite'"),
        (["benchmark", "--calculator", "sw", "--properties", "nope"], "field 'suite.properties'"),
        (["benchmark", "--calculator", "sw", "--reference", "missing.yaml"], "missing.yaml: field 'reference file'"),
        (["run", "missing.toml"], "missing.toml: field 'config file'"),
        (["analyze", "--table", "missing.csv"], "missing.csv"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlipscope: error:") and fragment in err and "Traceback" not in err


def test_suites_lists_labels(capsys):
    assert main(["suites", "--suite", "si-default"]) == 0
    out = capsys.readouterr().out
    assert "elastic_dumbbell" in out and "phonons_vacancy" in out


def test_python_dash_m_runs_the_same_cli():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "mlipscope", "materials"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "si" in done.stdout and "mo" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "mlipscope", "run", "missing.toml"], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.toml" in bad.stderr


LOUD_FACTORY = """
import os
import sys

print("LOUD banner at import")


def make():
    print("LOUD banner in the factory")  # as CHGNet's 'CHGNet v0.3.0 initialized with ...'
    os.write(1, b"LOUD banner from C\\n")
    from mlipscope.calculators import make_calculator

    return make_calculator("sw")
"""


def test_benchmark_json_parses_with_a_calculator_that_prints(tmp_path):
    """Whatever a model prints (Python or C level) stays off stdout: ``--json`` output parses; stderr shows a line
    per finished property with its time."""
    (tmp_path / "loud.py").write_text(LOUD_FACTORY)
    command = [sys.executable, "-m", "mlipscope", "benchmark", "--calculator", "loud:make", "--json"]
    command += ["--properties", "eos", "--db", str(tmp_path / "r.duckdb")]
    import mlipscope

    source = Path(mlipscope.__file__).parents[1]  # this checkout's package, also where it is not installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(source)])}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert "LOUD" not in done.stdout and out["calculator"] == "loud:make"
    assert {r["property_label"] for r in out["results"]} == {"eos"}
    assert re.search(r"eos: ok in \d+\.\d s", done.stderr)


def test_benchmark_has_a_default_time_limit(monkeypatch, capsys):
    from mlipscope.cli import BENCHMARK_TIME_LIMIT_S
    from mlipscope.errors import MlipscopeError
    from mlipscope.runner import benchmark

    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    assert "default: 1800" in " ".join(capsys.readouterr().out.split())
    used = []

    def record(*args, **kwargs):
        used.append(kwargs["time_limit_s"])
        raise MlipscopeError("recorded")

    monkeypatch.setattr(benchmark, "benchmark_calculator", record)
    assert main(["benchmark", "--calculator", "sw", "--properties", "eos"]) == 2
    assert main(["benchmark", "--calculator", "sw", "--properties", "eos", "--time-limit", "60"]) == 2
    assert used == [BENCHMARK_TIME_LIMIT_S, 60.0] and BENCHMARK_TIME_LIMIT_S == 1800.0
