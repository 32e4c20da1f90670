"""Scale figures of mlipscope at 2000 models x 60 values: scheduler tasks/s, batched members/s, store rates.

    python benchmarks/scale.py [--tasks 4000] [--members 2000] [--skip-store] [--skip-batch]

1. **Scheduler path**: the main job's submit / as_completed loop on a LocalCluster of 2 single-threaded worker
   processes, with tasks that do no work (so the figure is Dask's and the loop's overhead per task): one task per
   (model, property) pair vs one task per model of 4 pairs (``run.group_tasks``).
2. **Batched linear members** (``benchmarks/linear_batch.py``): per-member cost of errors_mlearn_test and re_vacancy
   evaluated one by one vs batched, for ``--members`` SNAP members sharing descriptor settings.
3. **Store** (``benchmarks/store_scale.py``): insert rate one-by-one vs batched, snapshot publish, status, and the
   export of the wide error table, for 2000 models x 60 values.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def no_work(pairs: int) -> list[tuple[str, int]]:
    """A task's result as small as an evaluation outcome list."""
    return [("model", i) for i in range(pairs)]


def scheduler_rate(n_pairs: int, pairs_per_task: int) -> float:
    """(model, property) pairs per second through submit + as_completed with ``pairs_per_task`` per task."""
    from dask.distributed import Client, LocalCluster, as_completed

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                     silence_logs=logging.ERROR) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        client.submit(no_work, 1).result()  # workers up
        start = time.perf_counter()
        futures = as_completed()
        for k in range(n_pairs // pairs_per_task):
            futures.add(client.submit(no_work, pairs_per_task, key=f"t-{k}", pure=False, priority=1))
        done = 0
        for future in futures:
            done += len(future.result())
            future.release()
        return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000, help="(model, property) pairs for the scheduler path")
    parser.add_argument("--members", type=int, default=2000, help="linear members for the batched path")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-store", action="store_true")
    args = parser.parse_args()

    single = scheduler_rate(args.tasks, 1)
    grouped = scheduler_rate(args.tasks, 4)
    print(f"scheduler path, {args.tasks} pairs on 2 workers: one task per pair {single:,.0f} pairs/s "
          f"({single:,.0f} tasks/s); one task per model of 4 pairs {grouped:,.0f} pairs/s "
          f"({grouped / 4:,.0f} tasks/s)", flush=True)  # fmt: skip
    if not args.skip_batch:
        print("\nbatched linear members:", flush=True)
        subprocess.run(
            [sys.executable, str(HERE / "linear_batch.py"), "--members", str(args.members), "--variants", "snap"],
            check=True,
        )
    if not args.skip_store:
        print("\nstore at 2000 models x 60 values:", flush=True)
        subprocess.run(
            [sys.executable, str(HERE / "store_scale.py"), "--models", "2000", "--properties", "60",
             "--values-per-property", "1", "--details-bytes", "200"],
            check=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
