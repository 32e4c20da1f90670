"""Cost of one ensemble member per fitted family of a main-job config: fit, model load and suite evaluation seconds.

For each ``[[ensemble]]`` of the config (``--families`` to choose), the first member the main job plans
(:func:`mlipscope.runner.plan.plan_models`: the sampler's first point with the ensemble's ``fixed`` settings, on its
first training set and first seed) is fitted as a main-job fit task (:func:`mlipscope.runner.tasks.fit_planned`:
the fit, then the evaluation-cost probe) in a fresh sandbox child. Its suite (the config's suite, labels and
overrides, :meth:`RunConfig.properties_for`; ``--properties`` to restrict it) then runs in ONE sandbox child kept
for all its properties, as a Dask worker keeps its child: the calculator is loaded once (timed on its own), the
properties follow one after the other through the runner's :func:`~mlipscope.runner.tasks.evaluate_in_process`,
sharing the model's material context, each under the config's task time limit (``--timeout-s``). A property's
seconds are those of its evaluation (as stored by the runner); a crash or timeout kills the child, the property gets
its reason and the time it took, and the next one starts a fresh child, as in a run. The descriptor cache of the
linear families starts empty (``MLIPSCOPE_CACHE_DIR`` set to a temporary directory unless it is set already).

    .venv/bin/python benchmarks/member_cost.py [--config examples/si.toml] [--quick] [--families gap,mtp]
        [--properties eos,...] [--timeout-s 600] [--json member_cost.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

#: characters of a failure reason printed under the tables
REASON_CHARS = 240


def load_calculator(model: str) -> float:
    """Seconds to load ``model``'s calculator into the runner's per-process cache (run in the sandbox child)."""
    from mlipscope.runner import tasks

    start = time.perf_counter()
    tasks.calculator_for(model)
    return time.perf_counter() - start


def call(sandbox, function: str, args: tuple, timeout_s: float | None) -> tuple[object, str | None, float]:
    """``function(*args)`` in ``sandbox``: (its value or None, None or why it failed, wall seconds)."""
    from mlipscope.runner.sandbox import SandboxCrash

    start = time.perf_counter()
    try:
        return sandbox.call(function, args, timeout_s=timeout_s), None, time.perf_counter() - start
    except SandboxCrash as crash:
        return None, " ".join(crash.reason.split()), time.perf_counter() - start


def first_member(cfg, spec, root: Path):
    """The first member the main job plans for ensemble ``spec`` (a :class:`~mlipscope.runner.work.Fit`)."""
    from mlipscope.runner.plan import plan_models

    hashes = dict.fromkeys(spec.training_sets, "")  # the store ids are not needed here
    return plan_models(spec, root, hashes, spec.material or cfg.material)[0]


def fit(planned, timeout_s: float) -> dict:
    """Fit ``planned`` as a main-job fit task in a fresh sandbox child."""
    from mlipscope.runner.sandbox import Sandbox

    sandbox = Sandbox()
    try:
        outcome, reason, wall_s = call(sandbox, "mlipscope.runner.tasks:fit_planned", (planned,), timeout_s)
    finally:
        sandbox.close()
    if outcome is not None and not outcome.ok:
        reason = outcome.reason
    if reason is not None:
        return {"ok": False, "reason": reason, "fit_s": math.nan, "fit_task_s": wall_s, "model_file_hash": ""}
    fit_s, task_s = outcome.fit_wall_time_s, outcome.task_wall_time_s
    return {"ok": True, "reason": "", "fit_s": fit_s, "fit_task_s": task_s, "model_file_hash": outcome.model_file_hash}


def evaluate(cfg, planned, model_file_hash: str, labels: list[str] | None, limit_s: float) -> dict:
    """The member's suite in one sandbox child: calculator load seconds, then each property's status and seconds."""
    from mlipscope.runner.sandbox import Sandbox, hard_limit_s
    from mlipscope.runner.work import Evaluation

    props = [p for p in cfg.properties_for(planned.material) if labels is None or p.label in labels]
    sandbox = Sandbox()
    sandbox.start()
    out: dict = {"load_s": math.nan, "load_reason": "", "properties": {}}
    try:
        load_s, reason, _ = call(
            sandbox, f"{Path(__file__).stem}:load_calculator", (planned.model_dir,), hard_limit_s(limit_s)
        )
        out["load_s"], out["load_reason"] = (math.nan, reason) if reason else (load_s, "")
        print(f"  load: {reason or f'{load_s:.2f} s'}", flush=True)
        for prop in props if reason is None else []:
            evaluation = Evaluation.of(
                planned.model_id, planned.model_dir, prop, cfg.reference, model_file_hash=model_file_hash
            )
            args = (evaluation, limit_s)
            result, reason, wall_s = call(
                sandbox, "mlipscope.runner.tasks:evaluate_in_process", args, hard_limit_s(limit_s)
            )
            cell = {"status": "failed", "seconds": wall_s, "reason": reason}
            if result is not None:
                outcome = result.outcome
                own_s = outcome.wall_time_s if math.isfinite(outcome.wall_time_s) else wall_s
                cell = {"status": outcome.status, "seconds": own_s, "reason": outcome.reason or None}
            out["properties"][prop.label] = cell
            failure = "" if cell["status"] == "ok" else f" FAILED: {(cell['reason'] or '')[:REASON_CHARS]}"
            print(f"  {prop.label}: {cell['seconds']:.2f} s{failure}", flush=True)
    finally:
        sandbox.close()
    return out


def measure(cfg, spec, root: Path, labels: list[str] | None, args) -> dict:
    """Fit and evaluate the first member of ensemble ``spec``; every number of it."""
    planned = first_member(cfg, spec, root)
    member = planned.member
    print(
        f"{spec.family}: first planned member ({spec.sampler} point 0 with fixed settings), training set "
        f"{member.training_set}, seed {member.seed}: {member.hyperparameters}",
        flush=True,
    )
    row = {"training_set": member.training_set, "seed": member.seed, "hyperparameters": member.hyperparameters}
    row.update(fit(planned, args.fit_timeout_s))
    if not row["ok"]:
        print(f"  fit FAILED: {row['reason'][:REASON_CHARS]}", flush=True)
        row.update(load_s=math.nan, load_reason="", properties={}, eval_s=math.nan, total_s=math.nan)
        return row
    print(f"  fit: {row['fit_s']:.2f} s (fit task, with the cost probe: {row['fit_task_s']:.2f} s)", flush=True)
    row.update(evaluate(cfg, planned, row.pop("model_file_hash"), labels, args.timeout_s))
    row["eval_s"] = sum(cell["seconds"] for cell in row["properties"].values())
    row["total_s"] = row["fit_task_s"] + (row["load_s"] if math.isfinite(row["load_s"]) else 0.0) + row["eval_s"]
    return row


def finite(value: object) -> object:
    """``value`` with NaN (not measured) as None, for strict JSON readers."""
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    return None if isinstance(value, float) and not math.isfinite(value) else value


def seconds(value: float) -> str:
    """Seconds to print: about three significant figures, "-" when not measured."""
    if not math.isfinite(value):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def print_tables(rows: dict[str, dict]) -> None:
    """The per-family table, then properties x families (failures referenced to their reasons below)."""
    print(f"\n{'family':<8}{'fit s':>9}{'task s':>9}{'load s':>9}{'eval s':>10}{'total s':>10}  slowest properties (s)")
    for family, row in rows.items():
        slowest = sorted(row["properties"].items(), key=lambda item: -item[1]["seconds"])[:3]
        text = ", ".join(f"{label} {seconds(cell['seconds'])}" for label, cell in slowest)
        cols = (row["fit_s"], row["fit_task_s"], row["load_s"])
        print(
            f"{family:<8}"
            + "".join(f"{seconds(v):>9}" for v in cols)
            + f"{seconds(row['eval_s']):>10}{seconds(row['total_s']):>10}  {text}".rstrip()
        )
    print("fit s: the fit; task s: the main job's fit task (fit + evaluation-cost probe); eval s: the properties'")
    print("seconds, failed ones included; total s: task + load + eval")
    labels = list(dict.fromkeys(label for row in rows.values() for label in row["properties"]))
    notes: list[str] = []
    width = max(10, *(len(f) + 2 for f in rows))
    print(f"\n{'property (s)':<28}" + "".join(f"{f:>{width}}" for f in rows))
    for label in labels:
        cells = []
        for family, row in rows.items():
            cell = row["properties"].get(label)
            if cell is None:
                cells.append("-")
            elif cell["status"] == "ok":
                cells.append(seconds(cell["seconds"]))
            else:
                notes.append(f"{label}, {family}: {(cell['reason'] or '')[:REASON_CHARS]}")
                cells.append(f"{seconds(cell['seconds'])} [{len(notes)}]")
        print(f"{label:<28}" + "".join(f"{c:>{width}}" for c in cells))
    for family, row in rows.items():
        if not row["ok"] or row["load_reason"]:
            notes.append(
                f"{family}: {'fit' if not row['ok'] else 'load'} failed: {row['reason'] or row['load_reason']}"
            )
    for number, text in enumerate(notes, start=1):
        print(f"[{number}] {text[: REASON_CHARS + 40]}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(Path(__file__).parents[1] / "examples" / "si.toml"))
    parser.add_argument("--quick", action="store_true", help="the config's [quick] profile")
    parser.add_argument(
        "--families",
        default="",
        help="ensembles to measure: a family, or <family>#2 for its second [[ensemble]] (default: all of the config)",
    )
    parser.add_argument("--properties", default="", help="suite labels to evaluate (default: the config's suite)")
    parser.add_argument("--timeout-s", type=float, default=None, help="per-property limit (default: the config's)")
    parser.add_argument("--fit-timeout-s", type=float, default=3600.0, help="hard limit of one fit task")
    parser.add_argument("--json", default=None, help="also write every number to this JSON file")
    return parser.parse_args()


def main() -> None:
    from mlipscope.runner.config import load_config

    args = parse_args()
    cfg = load_config(args.config, quick=args.quick)
    args.timeout_s = cfg.task_timeout_s if args.timeout_s is None else args.timeout_s
    specs: dict = {}
    for spec in cfg.ensembles:  # a family's later ensembles (another DeePMD descriptor): <family>#2, #3, ...
        n = sum(1 for name in specs if name.split("#")[0] == spec.family)
        specs[spec.family if n == 0 else f"{spec.family}#{n + 1}"] = spec
    families = [f for f in args.families.split(",") if f] or list(specs)
    labels = [p for p in args.properties.split(",") if p] or None
    suite = [p.label for p in cfg.properties_for()]
    unknown = [f for f in families if f not in specs] + [p for p in labels or [] if p not in suite]
    if not families:
        raise SystemExit(f"no [[ensemble]] in {args.config}")
    if unknown:
        raise SystemExit(f"not in the config: {unknown}; its families {list(specs)}, its suite {suite}")
    load_average = os.getloadavg()[0]
    print(
        f"{os.cpu_count()} cores, load average {load_average:.2f} at the start; config {args.config}"
        f"{' (quick)' if args.quick else ''}, time limit {args.timeout_s:g} s per property",
        flush=True,
    )
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # a cold descriptor cache unless one is given: a warm one turns a linear fit into a file read
        os.environ.setdefault("MLIPSCOPE_CACHE_DIR", str(Path(tmp) / "cache"))
        for family in families:
            rows[family] = measure(cfg, specs[family], Path(tmp), labels, args)
    print_tables(rows)
    if args.json:
        summary = {
            "config": str(args.config),
            "quick": args.quick,
            "cores": os.cpu_count(),
            "load_average_start": load_average,
            "timeout_s": args.timeout_s,
            "families": rows,
        }
        Path(args.json).write_text(json.dumps(finite(summary), indent=1, default=str))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
