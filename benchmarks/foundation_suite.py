"""Wall time of ``mlipscope benchmark`` with a foundation model on a suite (default: CHGNet, the Si quick suite).

Runs the real command (``python -m mlipscope benchmark ... --json`` into a fresh database, so everything is
computed) and prints the whole command's wall time and each property's time from its progress lines. Variants:

- ``--per-frame``: the same model with its batched prediction hidden (``predict_batch = None``), so the
  fixed-geometry sets (test-set errors, rare-event sets) go one ASE call per frame, as before batching;
- ``--threads N``: ``OMP_NUM_THREADS=N`` for the command (torch's intra-op threads; on a busy 2-core machine two
  threads can be ten times slower than one);
- ``--source DIR``: run the mlipscope package under ``DIR`` (e.g. an older checkout's ``src``) instead of this one.

    python benchmarks/foundation_suite.py [--calculator chgnet] [--suite quick] [--per-frame] [--threads 1]
                                          [--source DIR] [--properties re_vacancy ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "src"
#: a finished property's progress line: ``re_vacancy: ok in 41.2 s`` or ``... in 1m16s``
FINISHED = re.compile(r"^(\S+): (ok|failed) in (?:(\d+(?:\.\d+)?) s|(\d+)m(\d+)s|(\d+)h(\d+)m)$", re.MULTILINE)


def per_frame() -> object:
    """Factory of the ``--per-frame`` variant: the named model without batched prediction."""
    from mlipscope.calculators import make_calculator

    calc = make_calculator(os.environ["FOUNDATION_SUITE_SPEC"])
    calc.predict_batch = None  # fixed-frame properties then call it frame by frame
    return calc


def _seconds(match: re.Match) -> float:
    s, m, ms, h, hm = match.group(3, 4, 5, 6, 7)
    if s is not None:
        return float(s)
    if m is not None:
        return 60.0 * int(m) + int(ms)
    return 3600.0 * int(h) + 60.0 * int(hm)


def run(
    calculator: str, suite: str, per_frame_variant: bool, threads: int | None, source: Path, labels: list[str]
) -> dict:
    """Run the command once; its wall time (s), each property's (label -> (status, s)) and the load average."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(source)])
    env["FOUNDATION_SUITE_SPEC"] = calculator
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    spec = "foundation_suite:per_frame" if per_frame_variant else calculator
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "mlipscope", "benchmark", "--calculator", spec, "--suite", suite]
        command += ["--db", str(Path(tmp) / "bench.duckdb"), "--json"] + (["--properties", *labels] if labels else [])
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp)
        wall_s = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the command failed ({done.returncode}):\n{done.stderr[-3000:]}")
    properties = {m.group(1): (m.group(2), _seconds(m)) for m in FINISHED.finditer(done.stderr)}
    return {"wall_s": wall_s, "properties": properties, "load": (load_before, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calculator", default="chgnet")
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--per-frame", action="store_true", help="hide the model's batched prediction")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the command")
    parser.add_argument("--source", type=Path, default=SOURCE, help="folder holding the mlipscope package to run")
    parser.add_argument("--properties", nargs="*", default=[], help="a subset of the suite's labels")
    args = parser.parse_args()
    result = run(args.calculator, args.suite, args.per_frame, args.threads, args.source, args.properties)
    variant = "frame by frame" if args.per_frame else "batched where the model offers it"
    title = f"mlipscope benchmark --calculator {args.calculator} --suite {args.suite}: {variant}"
    table = Table(title=title + (f", OMP_NUM_THREADS={args.threads}" if args.threads else ""))
    for column in ("property", "status", "wall s", "share"):
        table.add_column(column, justify="left" if column in ("property", "status") else "right")
    for label, (status, seconds) in result["properties"].items():
        table.add_row(label, status, f"{seconds:.1f}", f"{100 * seconds / result['wall_s']:.0f} %")
    console = Console(width=160)
    console.print(table)
    load = result["load"]
    console.print(
        f"whole command: {result['wall_s']:.1f} s ({result['wall_s'] / 60:.2f} min) on {os.cpu_count()} cores; "
        f"load average {load[0]:.1f} before, {load[1]:.1f} after; source {args.source}"
    )


if __name__ == "__main__":
    main()
