"""The whole ensemble analysis + HTML report on a 2300 models x 60 properties synthetic table (target: < 30 s).

Usage: .venv/bin/python benchmarks/analysis_scale.py [--models 2300] [--properties 60] [--out DIR]
Prints the time of every analysis step, of the report (figures + tables) and the total.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mlipscope.analysis import AnalysisConfig, load_error_table, run_all
from mlipscope.analysis.synthetic import synthetic_error_table
from mlipscope.report import write_report

TARGET_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2300)
    parser.add_argument("--properties", type=int, default=60)
    parser.add_argument("--out", type=Path, default=None, help="keep the report here (default: a temp folder)")
    args = parser.parse_args()

    frame = synthetic_error_table(args.models, args.properties, failed_fraction=0.001, seed=0)
    start = time.perf_counter()
    table = load_error_table(frame)
    names = table.properties
    config = AnalysisConfig(thresholds={name: 0.05 for name in names[: len(names) // 3]}, selection_metrics=names[:2])
    loaded = time.perf_counter()
    results = run_all(table, config)
    analysed = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        index = write_report(results, out, title=f"synthetic {args.models} x {args.properties}")
        reported = time.perf_counter()
        n_figures = len(list((out / "figures").glob("*.png")))
        print(f"report: {index if args.out else '(temporary)'}, {n_figures} figures")

    print(f"table: {args.models} models x {args.properties} properties ({frame.isna().sum().sum()} failed cells)")
    print(f"{'load table':<22}{loaded - start:8.2f} s")
    for step, seconds in results.timings_s.items():
        print(f"  {step:<20}{seconds:8.2f} s")
    print(f"{'analysis (run_all)':<22}{analysed - loaded:8.2f} s")
    print(f"{'report (write_report)':<22}{reported - analysed:8.2f} s")
    total = reported - start
    verdict = "within" if total < TARGET_S else "OVER"
    print(f"{'total':<22}{total:8.2f} s ({verdict} the {TARGET_S:.0f} s target)")
    for key, value in results.summary().items():
        print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
