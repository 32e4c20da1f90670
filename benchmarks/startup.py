"""Start-up cost of a one-property ``mlipscope benchmark`` (issue 22; target: <= 0.8 s wall on an idle machine).

Usage: .venv/bin/python benchmarks/startup.py [--runs 5] [--calculator sw] [--property eos]

Runs ``mlipscope benchmark --calculator sw --properties eos --json`` ``--runs`` times, each on a fresh database (so
the property is evaluated, not read back), after one run that is not counted, with the bytecode of every module
cached as in an installed package (in a temporary ``PYTHONPYCACHEPREFIX``, also where ``PYTHONDONTWRITEBYTECODE`` is
set), and prints the median of:

- wall: the whole command, as a user waits for it;
- cpu: user + system time of the command and the processes it started (the sandbox child included), which a busy
  machine distorts less than the wall time;
- work: the property's own evaluation in a warm interpreter (imports done, calculator built, one evaluation
  before), with one BLAS thread as in the sandbox child: wall - work is the start-up;
- interpreter: a bare ``python -c pass``, the floor of any command;
- imports: the main process's imports of the ``benchmark`` command (in a fresh interpreter, ``-X importtime``
  gives the detail).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlipscope.runner.threads import THREAD_ENV

TARGET_S = 0.8
#: what ``mlipscope benchmark`` imports in the main process before its first evaluation
MAIN_IMPORTS = (
    "import rich.console, rich.progress; "
    "import mlipscope.calculators, mlipscope.runner.benchmark, mlipscope.runner.calculator_probe, "
    "mlipscope.store.duckdb_store, mlipscope.properties.acceptable_errors, mlipscope.report.verdict"
)
#: the property's evaluation in a warm interpreter; prints the median wall time of ``runs`` evaluations
WORK = """
import statistics, sys
from mlipscope.calculators import make_calculator
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.suite import build_suite
from mlipscope.runner.evaluate import evaluate_property

calculator_spec, label, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
prop = build_suite("default", [label])[0]
calculator = make_calculator(calculator_spec)
times = []
for _ in range(runs + 1):
    outcome = evaluate_property(prop, calculator, None, context=MaterialContext(prop.material))
    assert outcome.status == "ok", outcome
    times.append(outcome.wall_time_s)
print(statistics.median(times[1:]))
"""


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (this command and every process it waited for) and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    wall_s = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall_s, cpu_s, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calculator", default="sw")
    parser.add_argument("--property", default="eos")
    args = parser.parse_args()

    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        for run in range(args.runs + 1):  # the first run writes the bytecode
            db = Path(tmp) / f"run{run}.duckdb"
            command = [sys.executable, "-m", "mlipscope", "benchmark", "--calculator", args.calculator,
                       "--properties", args.property, "--db", str(db), "--json"]  # fmt: skip
            wall_s, cpu_s, stdout = _timed(command, env)
            assert all(row["status"] == "ok" for row in json.loads(stdout)["results"]), stdout
            if run:
                walls.append(wall_s)
                cpus.append(cpu_s)
        bare = [_timed([sys.executable, "-c", "pass"], env)[:2] for _ in range(args.runs)]
        imports = [_timed([sys.executable, "-c", MAIN_IMPORTS], env)[:2] for _ in range(args.runs)]
        work = subprocess.run([sys.executable, "-c", WORK, args.calculator, args.property, str(args.runs)],
                              capture_output=True, text=True, check=True, env={**env, **THREAD_ENV})  # fmt: skip

    wall_s, work_s = statistics.median(walls), float(work.stdout)
    print(f"mlipscope benchmark --calculator {args.calculator} --properties {args.property} "
          f"(median of {args.runs} runs)")  # fmt: skip
    print(f"  wall                {wall_s:7.3f} s   (target <= {TARGET_S} s on an idle machine)")
    print(f"  cpu (all processes) {statistics.median(cpus):7.3f} s")
    print(f"  work                {work_s:7.3f} s   (start-up: {wall_s - work_s:.3f} s, "
          f"{100 * (wall_s - work_s) / wall_s:.0f} % of the wall time)")  # fmt: skip
    print(f"  python -c pass      {statistics.median(w for w, _ in bare):7.3f} s wall, "
          f"{statistics.median(c for _, c in bare):.3f} s cpu")  # fmt: skip
    print(f"  main imports        {statistics.median(w for w, _ in imports):7.3f} s wall, "
          f"{statistics.median(c for _, c in imports):.3f} s cpu")  # fmt: skip
    print(f"  all walls: {', '.join(f'{w:.2f}' for w in walls)}")


if __name__ == "__main__":
    main()
