"""The results store at ensemble scale: 2000 models x 60 property values (20 properties x 3 values) by default.

Usage: .venv/bin/python benchmarks/store_scale.py [--models 2000] [--properties 20] [--values-per-property 3]
       [--details-bytes 2000] [--unbatched-models 25] [--batch 2000] [--failed-fraction 0.02] [--out DIR]

Prints: model registration and run-plan times; the insert rate one evaluation per transaction (on the first
``--unbatched-models`` models) and batched (the rest, ``--batch`` evaluations a transaction); the snapshot publish
time (full and incremental); the reader's status time (in process and the `mlipscope status` command); the wide
error table's export time (CSV, Parquet) and the full `mlipscope export` (CSV, Parquet); file sizes.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mlipscope.analysis.table import wide_error_table
from mlipscope.properties.base import ErrorRecord
from mlipscope.report.export import export_results
from mlipscope.store.duckdb_store import ResultsStore, snapshot_path_for


def _export_wide(store: ResultsStore, path: Path) -> None:
    """The wide error table (built from the store's records in analysis/) written as CSV or Parquet."""
    table = wide_error_table(store.records(), store.models())
    table.to_csv(path) if path.suffix == ".csv" else table.to_parquet(path)


REASONS = (
    "timeout after 300 s",
    "EvaluationError: the structure exploded (max force 1e4 eV/Å) (at md.py:120)",
    "crashed: signal 11",
)


class Synthetic:
    """Deterministic synthetic results: every model has ``n_props`` evaluations of ``n_values`` values each."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.labels = [f"prop{j:02d}" for j in range(args.properties)]
        self.rng = np.random.default_rng(0)
        self.n_floats = max(args.details_bytes // 20, 0)  # ~20 bytes a float in JSON

    def store_model(self, store: ResultsStore, model_id: str, i: int) -> int:
        """Store the evaluations of one model (through whatever batch is open); returns the values written."""
        n = 0
        for j, label in enumerate(self.labels):
            if self.rng.random() < self.args.failed_fraction:
                store.add_failed_evaluation(model_id, label, "h", REASONS[(i + j) % len(REASONS)], wall_time_s=1.0)
                continue
            records = [
                ErrorRecord.compare(f"{label}.v{k}", 1.0 + 0.1 * self.rng.random(), 1.0, "eV", "synthetic DFT")
                for k in range(self.args.values_per_property)
            ]
            details = {"curve_ev": self.rng.normal(size=self.n_floats).tolist()}  # its own curve: no dedup
            store.add_evaluation(model_id, label, "h", records, wall_time_s=1.0, details=details)
            n += len(records)
        return n


def _timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def _mb(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--properties", type=int, default=20)
    parser.add_argument("--values-per-property", type=int, default=3)
    parser.add_argument("--details-bytes", type=int, default=2000, help="JSON details per ok evaluation")
    parser.add_argument("--unbatched-models", type=int, default=25, help="models stored one evaluation at a time")
    parser.add_argument("--batch", type=int, default=2000, help="evaluations per batched transaction")
    parser.add_argument("--failed-fraction", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=None, help="keep the database and exports here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(args, args.out or Path(tmp))


def run(args: argparse.Namespace, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    db = out / "scale.duckdb"
    for old in (db, Path(f"{db}.wal"), snapshot_path_for(db)):
        old.unlink(missing_ok=True)
    data = Synthetic(args)
    n_values = args.properties * args.values_per_property
    print(f"store: {args.models} models x {n_values} values ({args.properties} properties x ", end="")
    print(f"{args.values_per_property}), {args.details_bytes} B details per evaluation, {db}")
    rows: list[tuple[str, float, str]] = []

    with ResultsStore(db) as store:
        t, ids = _timed(
            lambda: [store.register_model("snap", {"i": i, "rcut": 4.0 + i % 7}, seed=i) for i in range(args.models)]
        )
        rows.append(("register models", t, f"{args.models / t:,.0f} models/s (one transaction each)"))
        plan = [(m, label, "h") for m in ids for label in data.labels]
        t, _ = _timed(store.record_run_plan, plan, name="scale")
        rows.append(("record run plan", t, f"{len(plan):,} tasks"))

        n_single = min(args.unbatched_models, args.models)
        start = time.perf_counter()
        values = sum(data.store_model(store, m, i) for i, m in enumerate(ids[:n_single]))
        t = time.perf_counter() - start
        n_eval = n_single * args.properties
        single_rate = n_eval / t
        rows.append(
            ("insert, unbatched", t, f"{single_rate:,.0f} evaluations/s, {values / t:,.0f} values/s ({n_eval:,} ev.)")
        )

        start = time.perf_counter()
        values = 0
        with store.batch(max_rows=args.batch, max_delay_s=math.inf):
            for i, m in enumerate(ids[n_single:], start=n_single):
                values += data.store_model(store, m, i)
        t = time.perf_counter() - start
        n_eval = (args.models - n_single) * args.properties
        rate = n_eval / t
        rows.append(
            (
                "insert, batched",
                t,
                f"{rate:,.0f} evaluations/s, {values / t:,.0f} values/s ({n_eval:,} ev.; {rate / single_rate:.0f}x)",
            )
        )

        t, _ = _timed(store.publish_snapshot, force=True)
        rows.append(("publish snapshot, full", t, f"checkpoint + copy of {_mb(db):.0f} MB"))
        incremental = []
        for k in range(3):  # what the runner pays after each batch: a few new results, then a snapshot
            with store.batch():
                store.add_failed_evaluation(ids[k], data.labels[0], f"again-{k}", "timeout after 300 s")
            incremental.append(_timed(store.publish_snapshot, force=True)[0])
        rows.append(("publish snapshot, after a batch", float(np.median(incremental)), "median of 3"))
        t, _ = _timed(store.publish_snapshot)
        rows.append(("publish_snapshot, throttled", t, "a call within the interval: no copy"))

        # readers while the writer holds the database: the snapshot
        t, status = _timed(lambda: _status(db))
        rows.append(("status (open + run_status)", t, _counts(status)))
        cli = [sys.executable, "-m", "mlipscope.cli", "status", "--db", str(db), "--json"]
        t, done = _timed(subprocess.run, cli, capture_output=True, text=True, check=False)
        rows.append(("`mlipscope status --json`", t, "process start included" if done.returncode == 0 else "FAILED"))

        for suffix in ("csv", "parquet"):
            t, _ = _timed(_export_wide, store, out / f"errors.{suffix}")
            rows.append(
                (f"error table -> .{suffix}", t, f"{args.models} x {n_values}, {_mb(out / f'errors.{suffix}'):.1f} MB")
            )
    for fmt in ("csv", "parquet"):
        t, _ = _timed(export_results, db, out / f"export-{fmt}", fmt)
        rows.append((f"`mlipscope export` ({fmt})", t, "models, values, errors, failures"))
    rows.append(("database size", math.nan, f"{_mb(db):.0f} MB, snapshot {_mb(snapshot_path_for(db)):.0f} MB"))

    width = max(len(name) for name, _, _ in rows) + 2
    for name, seconds, note in rows:
        shown = "" if math.isnan(seconds) else f"{seconds:8.3f} s"
        print(f"{name:<{width}}{shown:>10}  {note}")


def _status(db: Path):
    with ResultsStore.open_for_reading(db) as reader:
        return reader.run_status()


def _counts(status) -> str:
    e = status.evaluations
    return f"done {e['done']:,}, failed {e['failed']:,}, remaining {e['remaining']:,} (from the snapshot)"


if __name__ == "__main__":
    main()
