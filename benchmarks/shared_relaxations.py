"""What sharing a model's relaxed structures saves: one MaterialContext for all of a model's properties (as a
runner worker keeps it) against a fresh context per property (every property relaxes the bulk and its own cells).

For each model (Stillinger–Weber, and a fitted SNAP model of ``out/si-models/snap/`` if there is one) and each
property set, both modes compute the same properties with a guarded calculator (as
:func:`~mlipscope.runner.evaluate.evaluate_property` does) and print wall time, CPU time of this process (the
machine may be shared: CPU time is the steadier figure), calculator calls, relaxations (every ASE optimiser run,
and those of shared structures: bulk, defect cells, NEB end points) and shared structures handed out again. The
values of the two modes are compared (largest difference). An untimed warm-up run of each set comes first.

Property sets: ``example`` is the shipped example's ``[suite]`` (``examples/si.toml``, its properties and
overrides); ``vacancy`` adds the vacancy properties of the si-default suite the example leaves out (vacancy-cell
elastic constants and phonons) beside the vacancy formation energy and NEB, plus the diffusion property's NEB check
of the example's ``[dynamics]`` (a MigrationBarrier with its ``neb`` settings: the same band as
``migration_vacancy``).

    python benchmarks/shared_relaxations.py [--sets example vacancy] [--snap out/si-models/snap/<id>] [--no-snap]
                                            [--repeat N] [--per-property]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import mlipscope.properties.structures as structures
from mlipscope.properties.base import Property
from mlipscope.properties.context import MaterialContext
from mlipscope.runner.config import load_config
from mlipscope.runner.guarded import GuardedCalculator
from mlipscope.runner.tasks import calculator_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "si.toml"
SNAP_DIR = ROOT / "out" / "si-models" / "snap"


def property_sets(names: list[str]) -> dict[str, Callable[[], list[Property]]]:
    """Builders of fresh property objects per set (a set is built anew for each run)."""
    config = load_config(EXAMPLE)

    def example() -> list[Property]:
        return config.properties_for()

    def vacancy() -> list[Property]:
        from mlipscope.properties.defects import DefectFormationEnergy
        from mlipscope.properties.elastic import ElasticConstants
        from mlipscope.properties.migration import MigrationBarrier
        from mlipscope.properties.phonons import Phonons

        neb = {"n_images": 3, "fmax": 0.05}  # the example's migration_vacancy override and diffusion neb check
        return [
            DefectFormationEnergy("vacancy_64", defect="vacancy", size=64),
            ElasticConstants("elastic_vacancy", cell="vacancy", size=64),
            Phonons("vacancy", label="phonons_vacancy"),
            MigrationBarrier("migration_vacancy", defect="vacancy", **neb),
            MigrationBarrier("diffusion_vacancy.neb_check", defect="vacancy", lattice_a=None, **neb),
        ]

    builders = {"example": example, "vacancy": vacancy}
    return {name: builders[name] for name in names}


class RelaxationCounter:
    """Counts every ASE optimiser run (:func:`mlipscope.properties.structures._relax`: all of ``relax``'s)."""

    def __init__(self) -> None:
        self.n = 0
        self._real = structures._relax

    def __enter__(self) -> RelaxationCounter:
        def counting(*args: Any, **kwargs: Any):
            self.n += 1
            return self._real(*args, **kwargs)

        structures._relax = counting  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        structures._relax = self._real  # type: ignore[assignment]


@dataclass
class Outcome:
    label: str
    values: dict[str, float]
    error: str = ""
    cpu_s: float = 0.0
    calculator_calls: int = 0


def evaluate(prop: Property, calculator, ctx: MaterialContext) -> Outcome:
    """``prop`` computed as the runner does (a guarded calculator; a failure is an outcome, not a crash)."""
    try:
        return Outcome(prop.label, prop.compute(GuardedCalculator(calculator), ctx).full_names())
    except Exception as exc:  # noqa: BLE001 - failed evaluations are compared like values
        return Outcome(prop.label, {}, f"{type(exc).__name__}: {exc}")


def run_mode(calculator, props: list[Property], shared: bool) -> tuple[dict[str, Any], list[Outcome]]:
    """Evaluate ``props`` in order with one context (``shared``) or a fresh one per property."""
    counting = GuardedCalculator(calculator)  # outside the per-evaluation guard: counts every call
    contexts: list[MaterialContext] = []
    outcomes = []
    wall, cpu = time.perf_counter(), time.process_time()
    with RelaxationCounter() as relaxations:
        for prop in props:
            if shared and contexts:
                ctx = contexts[0]
            else:
                ctx = MaterialContext(prop.material)
                contexts.append(ctx)
            calls, start = counting.n_calls, time.process_time()
            outcome = evaluate(prop, counting, ctx)
            outcome.cpu_s, outcome.calculator_calls = time.process_time() - start, counting.n_calls - calls
            outcomes.append(outcome)
    row = {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "calculator_calls": counting.n_calls,
        "relaxations": relaxations.n,
        "shared_relaxations": sum(c.counts["relaxations"] for c in contexts),
        "reused": sum(c.counts["reused"] for c in contexts),
        "failed": sum(bool(o.error) for o in outcomes),
    }
    return row, outcomes


def difference(a: list[Outcome], b: list[Outcome]) -> tuple[float, str]:
    """Largest |value difference| between two runs of the same properties (inf where one failed, not the other,
    or a value is NaN in one only)."""
    worst, where = 0.0, ""
    for x, y in zip(a, b, strict=True):
        if bool(x.error) != bool(y.error) or x.values.keys() != y.values.keys():
            return math.inf, x.label
        for name, value in x.values.items():
            other = y.values[name]
            if math.isnan(value) or math.isnan(other):
                if math.isnan(value) != math.isnan(other):
                    return math.inf, name
                continue
            if abs(value - other) > worst:
                worst, where = abs(value - other), name
    return worst, where


def models(args: argparse.Namespace) -> dict[str, str]:
    out = {"Stillinger-Weber": "sw"}
    if args.no_snap:
        return out
    snap = args.snap or next((p for p in sorted(SNAP_DIR.glob("*")) if (p / "model.json").is_file()), None)
    if snap is not None:
        out[f"SNAP {Path(snap).name}"] = str(snap)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["example", "vacancy"], choices=["example", "vacancy"])
    parser.add_argument("--snap", type=Path, default=None, help="a fitted SNAP model directory")
    parser.add_argument("--no-snap", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per mode (the fastest is shown)")
    parser.add_argument("--per-property", action="store_true", help="CPU time and calls per property (last run)")
    args = parser.parse_args()
    console = Console(width=200)
    table = Table(title="shared relaxed structures: one context per model vs a fresh context per property")
    columns = ["model", "set", "mode", "wall_s", "cpu_s", "calculator_calls", "relaxations", "shared_relaxations",
               "reused", "failed"]  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    notes = []
    for model_name, spec in models(args).items():
        calculator = calculator_for(spec)
        for set_name, build in property_sets(args.sets).items():
            # warm-up, not timed: datasets, imports and the calculator's first calls cost the first run only
            run_mode(calculator, build(), shared=True)
            rows: dict[str, dict[str, Any]] = {}
            results = {}
            for _ in range(args.repeat):  # alternating modes; the fastest run of each is kept
                for mode, shared in (("fresh", False), ("shared", True)):
                    row, results[mode] = run_mode(calculator, build(), shared)
                    if mode not in rows or row["cpu_s"] < rows[mode]["cpu_s"]:
                        rows[mode] = row
            for mode in ("fresh", "shared"):
                table.add_row(model_name, set_name, mode, *(_fmt(v) for v in rows[mode].values()))
            worst, where = difference(results["fresh"], results["shared"])
            saving = 1.0 - rows["shared"]["cpu_s"] / rows["fresh"]["cpu_s"]
            notes.append(
                f"{model_name} / {set_name}: CPU time saved {100 * saving:.1f}%, wall "
                f"{rows['fresh']['wall_s']:.1f} -> {rows['shared']['wall_s']:.1f} s, calculator calls "
                f"{rows['fresh']['calculator_calls']} -> {rows['shared']['calculator_calls']}; largest value "
                f"difference between the modes {worst:.2g} ({where or '-'})"
            )
            if args.per_property:
                for fresh, shared_outcome in zip(results["fresh"], results["shared"], strict=True):
                    notes.append(
                        f"    {fresh.label}: CPU {fresh.cpu_s:.2f} -> {shared_outcome.cpu_s:.2f} s, calculator calls "
                        f"{fresh.calculator_calls} -> {shared_outcome.calculator_calls}"
                    )
            for outcome in results["shared"]:
                if outcome.error:
                    notes.append(f"    failed (shared mode): {outcome.label}: {outcome.error[:160]}")
    console.print(table)
    for note in notes:
        console.print(note)


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
