"""What ``mlipscope benchmark`` loads: its main process lists the suite, reads inputs and stores results, and
leaves scipy, matplotlib and ASE's builders to the evaluation child (most of its start-up was these imports) and
needs no pandas (its rows are read as dicts); the child loads no database library. The script's quick exit after
``benchmark`` still ends the child and removes its log. Checked by module, not by time (timings:
``benchmarks/startup.py``)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

from mlipscope.properties.suite import build_suite
from mlipscope.runner.work import Evaluation

HEAVY = ("scipy", "matplotlib", "ase.build", "ase.optimize", "ase.io", "networkx", "tqdm", "pandas")

MAIN = """
import json, sys
from mlipscope.cli import main
assert main(["benchmark", "--calculator", "sw", "--properties", "eos", "--db", sys.argv[1], "--json"]) == 0
heavy = sorted({name.split(".")[0] for name in sys.modules for prefix in sys.argv[2:]
                if name == prefix or name.startswith(prefix + ".")})
print(json.dumps(heavy), file=sys.stderr)
"""

CHILD = """
import json, pickle, sys
with open(sys.argv[1], "rb") as request:
    pickle.load(request)  # what the evaluation child does with a request
print(json.dumps(sorted(name for name in ("pandas", "duckdb", "pyarrow") if name in sys.modules)))
"""


def test_the_benchmark_command_leaves_the_heavy_imports_to_the_evaluation_child(tmp_path):
    done = subprocess.run([sys.executable, "-c", MAIN, str(tmp_path / "r.duckdb"), *HEAVY], capture_output=True,
                          text=True, check=True, cwd=tmp_path)  # fmt: skip
    results = json.loads(done.stdout)["results"]
    assert [row["property_label"] for row in results] == ["eos"] * len(results) and results
    assert all(row["status"] == "ok" for row in results)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_the_evaluation_child_unpickles_a_request_without_database_libraries(tmp_path):
    evaluation = Evaluation.of("m", "sw", build_suite("default", ["eos"])[0], "material")
    (tmp_path / "request.pickle").write_bytes(pickle.dumps(("mlipscope.runner.tasks:evaluate_in_process", evaluation)))
    done = subprocess.run([sys.executable, "-c", CHILD, "request.pickle"], capture_output=True, text=True, check=True,
                          cwd=tmp_path)  # fmt: skip
    assert json.loads(done.stdout) == []


def test_the_script_exits_quickly_with_its_output_whole_and_no_child_left(tmp_path):
    """``python -m mlipscope benchmark`` skips the interpreter's teardown: the JSON on stdout must be complete, the
    exit code 0, and the exit handlers must still have run (the sandbox child's log is removed when it closes)."""
    logs = tmp_path / "logs"
    env = {**os.environ, "MLIPSCOPE_SANDBOX_LOG_DIR": str(logs)}
    command = [sys.executable, "-m", "mlipscope", "benchmark", "--calculator", "sw", "--properties", "eos", "--db",
               str(tmp_path / "r.duckdb"), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["verdict"]["n_values"] > 0 and all(row["status"] == "ok" for row in out["results"])
    assert logs.is_dir() and list(logs.glob("mlipscope-sandbox-*.log")) == []
