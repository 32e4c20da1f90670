"""Per-member cost of fixed-geometry properties of linear members: per-member evaluation vs batched.

For each linear variant (qSNAP and POD at their default descriptor settings, ``--variants``), ``--members``
members sharing those descriptor settings are fitted from one cached linear system of a Si training set
(different weights / regularisation: milliseconds each). On ``errors_mlearn_test`` and ``re_vacancy`` of the Si
suite it prints the per-member cost of

- per-member evaluation: ``prop.compute(calculator)`` (LAMMPS ``pair_style snap``/``pod`` through ASE) on
  ``--per-member`` members (the cost is the same for every member), calculator loading included;
- batched, cold: :func:`mlipscope.models.linear_batch.batch_results` for all members with an empty row
  cache (descriptor rows computed once, then one matrix product), total / members;
- batched, warm: the same with the rows already on disk (a resumed run, more members, a second run);

and the speed-ups, plus the largest difference between the two paths on the per-member members.

    .venv/bin/python benchmarks/linear_batch.py [--members 200] [--per-member 5] [--variants qsnap pod]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from mlipscope.data.examples import load_example
from mlipscope.models.linear_batch import LinearMember, batch_results
from mlipscope.models.registry import get_family
from mlipscope.models.sampling import sample_two_level
from mlipscope.properties.frame_data import FrameErrors
from mlipscope.properties.suite import build_suite

LABELS = ["errors_mlearn_test", "re_vacancy"]
VARIANTS = {"qsnap": ("snap", {"quadratic": True}), "snap": ("snap", {"quadratic": False}), "pod": ("pod", {})}
GOAL = 100.0


def fit_members(variant: str, n: int, training_set: str, root: Path) -> tuple[list[Path], float, float]:
    """``n`` members at the family's default descriptor settings (model dirs), the time of the training-set
    descriptors and the mean fit time (s)."""
    family_name, fixed = VARIANTS[variant]
    family = get_family(family_name)
    space = family.hyperparameter_space()
    names = family.descriptor_hyperparameters()
    defaults = {**space.defaults(), **fixed}
    # one descriptor point (the defaults), n regression points
    points = [{**hp, **{k: defaults[k] for k in names}} for hp in sample_two_level(space, names, 1, n, "sobol", 0)]
    data = load_example(training_set)
    start = time.perf_counter()
    family.fit(data, points[0], 0, root / "m0")
    descriptors_s = time.perf_counter() - start
    start = time.perf_counter()
    dirs = [root / "m0"]
    for i, hp in enumerate(points[1:], start=1):
        family.fit(data, hp, 0, root / f"m{i}")
        dirs.append(root / f"m{i}")
    return dirs, descriptors_s, (time.perf_counter() - start) / max(n - 1, 1)


def max_difference(a, b) -> float:
    """Largest absolute difference between two results' values and stored per-frame errors (these are rounded,
    to 0.001 eV/Å for forces: a difference of one rounding step is round-off that crossed a rounding boundary)."""
    diffs = [abs(a.values[k] - b.values[k]) for k in a.values if math.isfinite(a.values[k])]
    if "frames" in a.details:
        fa, fb = (FrameErrors.from_details(r.details["frames"]) for r in (a, b))
        for key in ("force_error_ev_a", "energy_error_ev_atom", "stress_error_gpa"):
            x, y = getattr(fa, key), getattr(fb, key)
            if x is not None and x.size:
                diffs.append(float(np.nanmax(np.abs(x - y))))
    return max(diffs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--per-member", type=int, default=5, help="members evaluated one by one (linear cost)")
    parser.add_argument("--variants", nargs="+", default=["qsnap", "pod"], choices=sorted(VARIANTS))
    parser.add_argument("--training-set", default="si_original_train")
    args = parser.parse_args()

    props = build_suite("si-default", LABELS)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLIPSCOPE_CACHE_DIR"] = str(Path(tmp) / "cache")  # cold cache: every row is computed here
        for variant in args.variants:
            dirs, descriptors_s, fit_s = fit_members(variant, args.members, args.training_set, Path(tmp) / variant)
            print(
                f"{variant}: {len(dirs)} members fitted ({args.training_set} descriptors {descriptors_s:.1f} s, "
                f"then {1000 * fit_s:.1f} ms per fit)"
            )
            family = get_family(VARIANTS[variant][0])
            for prop in props:
                per_member, expected = [], {}
                for model_dir in dirs[: args.per_member]:
                    start = time.perf_counter()
                    expected[model_dir.name] = prop.compute(family.load_calculator(model_dir))
                    per_member.append(time.perf_counter() - start)
                start = time.perf_counter()
                cold = batch_results(prop, [LinearMember.from_model_dir(d) for d in dirs])
                cold_s = (time.perf_counter() - start) / len(dirs)
                start = time.perf_counter()
                batch_results(prop, [LinearMember.from_model_dir(d) for d in dirs])
                warm_s = (time.perf_counter() - start) / len(dirs)
                failed = [k for k, r in cold.items() if isinstance(r, Exception)]
                diff = max(max_difference(expected[k], cold[k]) for k in expected)
                one = float(np.mean(per_member))
                rows.append((variant, prop.label, one, cold_s, warm_s, diff, len(failed)))

    print(f"\nper-member cost, {args.members} members sharing descriptor settings (ms per member)")
    head = f"{'variant':<8}{'property':<20}{'per-member':>11}{'batch cold':>11}{'speed-up':>9}"
    print(head + f"{'batch warm':>11}{'speed-up':>9}{'max |diff|':>12}")
    for variant, label, one, cold_s, warm_s, diff, failed in rows:
        print(
            f"{variant:<8}{label:<20}{1000 * one:>11.1f}{1000 * cold_s:>11.2f}{one / cold_s:>8.0f}x"
            f"{1000 * warm_s:>11.2f}{one / warm_s:>8.0f}x{diff:>12.1e}" + (f"  ({failed} failed)" if failed else "")
        )
    print(f"(goal: >= {GOAL:.0f}x per member; 'max |diff|': eV/Å, eV/atom, GPa and metric units, on the first members)")


if __name__ == "__main__":
    main()
