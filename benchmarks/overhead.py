"""Framework overhead of the main job, and the speed-up from 2 Dask workers over 1.

Runs a config (default: the shipped example's quick profile) from scratch into a temporary directory, once with 1
worker and once with 2, and prints:
- wall time of the job (planning, fitting, evaluation, storing; the report is timed separately),
- framework overhead = 1 − (time inside fit and evaluation tasks) / (wall time × workers): what mlipscope and Dask
  add around the science (planning, scheduling, storing, loading models, idle workers),
- outside calculators = 1 − (time inside calculator calls + fitting codes) / (wall time × workers): the framework
  overhead plus the property algorithms' own Python (ASE optimisers and NEB, phonopy, fitting metrics),
- speed-up = wall(1 worker) / wall(2 workers).

    python benchmarks/overhead.py [config.toml] [--full]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mlipscope.runner.config import load_config
from mlipscope.runner.main_job import MainJob

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "si.toml"


def run_once(config_path: Path, quick: bool, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(config_path, quick=quick)
        config.db_path = Path(tmp) / "bench.duckdb"
        config.out_dir = Path(tmp) / "report"
        config.models_dir = Path(tmp) / "models"
        start = time.perf_counter()
        summary = MainJob(config, n_workers=workers, show_progress=False).run()
        total = time.perf_counter() - start
    inside = summary.calculator_time_s + summary.fit_time_s
    in_tasks = summary.evaluation_task_time_s + summary.fit_task_time_s
    return {
        "workers": workers,
        "models": summary.n_models_planned,
        "evaluations": summary.n_evaluations,
        "failed": summary.n_evaluations_failed + summary.n_fits_failed,
        "job_wall_s": summary.wall_time_s,
        "report_s": total - summary.wall_time_s,
        "in_tasks_s": in_tasks,
        "in_calculators_s": inside,
        "framework_overhead": 1.0 - in_tasks / (summary.wall_time_s * workers),
        "outside_calculators": 1.0 - inside / (summary.wall_time_s * workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", type=Path, default=EXAMPLE)
    parser.add_argument("--full", action="store_true", help="the full profile instead of --quick")
    args = parser.parse_args()
    rows = [run_once(args.config, not args.full, w) for w in (1, 2)]
    table = Table(title=f"main-job overhead: {args.config.name} ({'full' if args.full else 'quick'} profile)")
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console = Console(width=200)
    console.print(table)
    console.print(f"speed-up with 2 workers vs 1: {rows[0]['job_wall_s'] / rows[1]['job_wall_s']:.2f}x")
    for row in rows:
        console.print(
            f"{row['workers']} worker(s): framework overhead {100 * row['framework_overhead']:.1f}% (target ≤ 5%); "
            f"outside calculators and fitting codes {100 * row['outside_calculators']:.1f}%"
        )


if __name__ == "__main__":
    main()
