"""Framework overhead of the main job, and the speed-up from 2 Dask workers over 1.

Runs a config (default: the shipped example's quick profile) from scratch into a temporary directory, once with 1
worker and once with 2, and prints:
- wall time of the job (planning, fitting, evaluation, storing; the report is timed separately),
- framework overhead = 1 − (time inside fit and evaluation tasks) / (wall time × workers): what mlipscope and Dask
  add around the science (planning, scheduling, storing, loading models, idle workers),
- outside calculators = 1 − (time inside calculator calls + fitting codes) / (wall time × workers): the framework
  overhead plus the property algorithms' own Python (ASE optimisers and NEB, phonopy, fitting metrics),
- speed-up = wall(1 worker) / wall(2 workers),
- where the framework overhead goes, from Dask's task stream: workers idle (no task running: start-up, waiting on
  the scheduler or on a long last task, the dynamics stage's selection) and inside Dask tasks but outside the
  measured fits and evaluations (the sandbox round trip, loading a model, sending results back).

    python benchmarks/overhead.py [config.toml] [--full] [--workers 1,2] [--no-dynamics]
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


class TimedJob(MainJob):
    """The main job, keeping Dask's task stream (what each worker ran, when) until its cluster closes."""

    task_stream: list[dict]

    def _dask_client(self):
        first = self._dask is None
        client = super()._dask_client()
        if first:
            client.get_task_stream()  # starts the scheduler's task-stream recording
        return client

    def _close_dask(self) -> None:
        if self._dask is not None:
            self.task_stream = [*getattr(self, "task_stream", []), *self._dask[0].get_task_stream(start=0)]
        super()._close_dask()


def busy_seconds(task_stream: list[dict]) -> float:
    """Seconds workers spent computing Dask tasks (summed over workers)."""
    return sum(
        part["stop"] - part["start"]
        for task in task_stream
        for part in task.get("startstops", ())
        if part.get("action") == "compute"
    )


def run_once(config_path: Path, quick: bool, workers: int, dynamics: bool = True) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(config_path, quick=quick)
        if not dynamics:
            config.dynamics = None
        config.db_path = Path(tmp) / "bench.duckdb"
        config.out_dir = Path(tmp) / "report"
        config.models_dir = Path(tmp) / "models"
        start = time.perf_counter()
        job = TimedJob(config, n_workers=workers, show_progress=False)
        summary = job.run()
        total = time.perf_counter() - start
    busy = busy_seconds(getattr(job, "task_stream", []))
    capacity = summary.wall_time_s * workers
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
        "framework_overhead": 1.0 - in_tasks / capacity,
        "workers_idle": 1.0 - busy / capacity,
        "in_dask_tasks_outside_work": (busy - in_tasks) / capacity,
        "outside_calculators": 1.0 - inside / capacity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", type=Path, default=EXAMPLE)
    parser.add_argument("--full", action="store_true", help="the full profile instead of --quick")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument(
        "--no-dynamics",
        action="store_true",
        help="leave out the dynamics stage (a few long MD evaluations after the suite, where all but a few workers "
        "idle): the overhead of fitting and evaluating the suite alone",
    )
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    rows = [run_once(args.config, not args.full, w, dynamics=not args.no_dynamics) for w in counts]
    stages = "suite only" if args.no_dynamics else "suite and dynamics stage"
    table = Table(title=f"main-job overhead: {args.config.name} ({'full' if args.full else 'quick'} profile, {stages})")
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console = Console(width=200)
    console.print(table)
    if len(rows) > 1:
        console.print(f"speed-up with {counts[-1]} workers vs {counts[0]}: "
                      f"{rows[0]['job_wall_s'] / rows[-1]['job_wall_s']:.2f}x")  # fmt: skip
    for row in rows:
        console.print(
            f"{row['workers']} worker(s): framework overhead {100 * row['framework_overhead']:.1f}% (target ≤ 5%); "
            f"outside calculators and fitting codes {100 * row['outside_calculators']:.1f}%; of the overhead: workers "
            f"idle {100 * row['workers_idle']:.1f}%, in Dask tasks outside the work "
            f"{100 * row['in_dask_tasks_outside_work']:.1f}%"
        )


if __name__ == "__main__":
    main()
