"""The command line: the SW benchmark table end to end, JSON output, and clear errors for bad input."""

import json

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
