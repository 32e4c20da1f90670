"""Per-member cost of fixed-geometry properties of linear members: per-member evaluation vs batched.

For each linear variant (qSNAP and POD at their default descriptor settings, ``--variants``), ``--members``
members sharing those descriptor settings are fitted from one cached linear system of a Si training set
(different weights / regularisation: milliseconds each). On ``errors_mlearn_test`` and ``re_vacancy`` of the Si
suite it prints the per-member cost of

- per-member evaluation: ``prop.compute(calculator)`` (LAMMPS ``pair_style snap``/``pod`` through ASE) on
  ``--per-member`` members (the cost is the same for every member), calculator loading included;
- batched, cold: :func:`mlipscope.models.linear_batch.batch_results` for all members with an empty row
  cache (descriptor rows computed once, then one matrix product), total / members;
- batched, warm: the same with the rows already on disk (a resumed run, more members, a second run), the
  members' files read beforehand (``load``: reading model.json and the coefficients, per member);
- the plain matrix product of the same shape: the rows (energy, force, and for the test set the virial rows of
  its stress frames) times the coefficients of all members, what any batched evaluation must at least do; and
  the warm batch's cost as a multiple of it, also without the stored per-frame errors of ``details["frames"]``
  (:mod:`mlipscope.properties.frame_data`);

and the speed-ups, plus the largest difference between the two paths on the per-member members. Warm batch and
product are the best of ``--repeat`` runs.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/linear_batch.py [--members 200] [--per-member 5] \
        [--variants qsnap pod] [--repeat 20]

One BLAS thread is what the run's workers use (:mod:`mlipscope.runner.threads`), and it keeps the products'
timings steady on a machine that is busy with something else (a threaded product waits for its slowest core).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlipscope.data.dataset import Dataset
from mlipscope.data.examples import load_example
from mlipscope.models import linear_batch_metrics
from mlipscope.models.linear_batch import LinearMember, batch_results, dataset_rows
from mlipscope.models.registry import get_family
from mlipscope.models.sampling import sample_two_level
from mlipscope.properties.base import Property
from mlipscope.properties.dataset_errors import DatasetErrors, load_dataset
from mlipscope.properties.frame_data import FrameErrors
from mlipscope.properties.suite import build_suite

LABELS = ["errors_mlearn_test", "re_vacancy"]
VARIANTS = {"qsnap": ("snap", {"quadratic": True}), "snap": ("snap", {"quadratic": False}), "pod": ("pod", {})}
GOAL = 100.0
PRODUCT_GOAL = 5.0  # warm batch within this multiple of the plain product (issue 23)


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


def best_of(repeat: int, run: Callable[[], object]) -> float:
    """The shortest of ``repeat`` runs (s)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def plain_product_s(prop: Property, members: list[LinearMember], repeat: int) -> float:
    """The product of the rows (from the cache) with all members' coefficients: energies, forces and, for the
    test set, the virial rows of the frames that have them."""
    if isinstance(prop, DatasetErrors):
        frames, virial = load_dataset(prop.dataset), True
    else:
        data, selected = prop.selected_frames()
        frames, virial = Dataset(selected, name=data.name, path=data.path), False
    first = members[0]
    rows = dataset_rows(frames, first.family, first.hyperparameters, first.species, virial=virial)
    betas = np.stack([m.beta for m in members], axis=1)
    blocks = [rows.energy, rows.forces]
    if virial:
        with_rows = np.isfinite(rows.virial).all(axis=(1, 2))
        blocks.append(rows.virial[with_rows].reshape(-1, rows.n_params))
    return best_of(repeat, lambda: [betas.T @ block.T for block in blocks])


class _NoFrames:
    """In place of the members' :class:`~mlipscope.models.linear_batch_frames.StoredFrames`: no frames."""

    def of_member(self, m: int) -> dict:
        return {}


def warm_batch_s(prop: Property, members: list[LinearMember], repeat: int) -> tuple[float, float]:
    """(best warm batch, the same with ``details["frames"]`` left empty) (s): what the batch costs without the
    stored per-frame errors (:mod:`mlipscope.properties.frame_data`, built from the stacked arrays)."""
    warm = best_of(repeat, lambda: batch_results(prop, members))
    lbm = linear_batch_metrics
    saved = lbm._stored_frames, lbm._stored_re_frames
    lbm._stored_frames = lbm._stored_re_frames = lambda *args: _NoFrames()  # type: ignore[assignment]
    try:
        return warm, best_of(repeat, lambda: batch_results(prop, members))
    finally:
        lbm._stored_frames, lbm._stored_re_frames = saved


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


@dataclass
class Measured:
    """One (variant, property): seconds per member, and the largest difference to one-by-one evaluation."""

    variant: str
    label: str
    one_s: float
    cold_s: float
    load_s: float
    warm_s: float
    bare_s: float
    product_s: float
    diff: float
    failed: int


def measure(variant: str, prop: Property, dirs: list[Path], per_member: int, repeat: int) -> Measured:
    family = get_family(VARIANTS[variant][0])
    one, expected = [], {}
    for model_dir in dirs[:per_member]:
        start = time.perf_counter()
        expected[model_dir.name] = prop.compute(family.load_calculator(model_dir))
        one.append(time.perf_counter() - start)
    n = len(dirs)
    start = time.perf_counter()
    cold = batch_results(prop, [LinearMember.from_model_dir(d) for d in dirs])
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    members = [LinearMember.from_model_dir(d) for d in dirs]
    load_s = time.perf_counter() - start
    warm_s, bare_s = warm_batch_s(prop, members, repeat)
    product_s = plain_product_s(prop, members, repeat)
    diff = max(max_difference(expected[k], cold[k]) for k in expected)
    failed = sum(isinstance(r, Exception) for r in cold.values())
    return Measured(
        variant, prop.label, float(np.mean(one)), cold_s / n, load_s / n, warm_s / n, bare_s / n,
        product_s / n, diff, failed,
    )  # fmt: skip


def report(measured: list[Measured], members: int) -> None:
    print(f"\nper-member cost, {members} members sharing descriptor settings (ms per member)")
    head = f"{'variant':<8}{'property':<20}{'per-member':>11}{'batch cold':>11}{'speed-up':>9}{'load':>7}"
    print(head + f"{'batch warm':>11}{'speed-up':>9}{'max |diff|':>12}")
    for r in measured:
        print(
            f"{r.variant:<8}{r.label:<20}{1000 * r.one_s:>11.1f}{1000 * r.cold_s:>11.2f}{r.one_s / r.cold_s:>8.0f}x"
            f"{1000 * r.load_s:>7.2f}{1000 * r.warm_s:>11.3f}{r.one_s / (r.load_s + r.warm_s):>8.0f}x{r.diff:>12.1e}"
            + (f"  ({r.failed} failed)" if r.failed else "")
        )
    print(f"(goal: >= {GOAL:.0f}x per member, files read included; 'max |diff|': eV/Å, eV/atom, GPa and metric units,")
    print(" on the first members; 'load': reading a member's files, 'batch warm': the batch once they are read)")
    print("\nwarm batch against the plain product of the rows with all members' coefficients (ms per member)")
    print(f"{'variant':<8}{'property':<20}{'batch warm':>11}{'product':>9}{'ratio':>7}{'w/o frames':>12}{'ratio':>7}")
    for r in measured:
        print(
            f"{r.variant:<8}{r.label:<20}{1000 * r.warm_s:>11.3f}{1000 * r.product_s:>9.3f}"
            f"{r.warm_s / r.product_s:>6.1f}x{1000 * r.bare_s:>12.3f}{r.bare_s / r.product_s:>6.1f}x"
        )
    print(f"(goal: batch warm <= {PRODUCT_GOAL:.0f}x the product, rows read from disk included; 'w/o frames': the")
    print(" batch with details['frames'] left empty, i.e. without the stored per-frame errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--per-member", type=int, default=5, help="members evaluated one by one (linear cost)")
    parser.add_argument("--variants", nargs="+", default=["qsnap", "pod"], choices=sorted(VARIANTS))
    parser.add_argument("--training-set", default="si_original_train")
    parser.add_argument("--repeat", type=int, default=5, help="warm batch and product: best of this many runs")
    args = parser.parse_args()

    props = build_suite("si-default", LABELS)
    measured = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLIPSCOPE_CACHE_DIR"] = str(Path(tmp) / "cache")  # cold cache: every row is computed here
        for variant in args.variants:
            dirs, descriptors_s, fit_s = fit_members(variant, args.members, args.training_set, Path(tmp) / variant)
            print(
                f"{variant}: {len(dirs)} members fitted ({args.training_set} descriptors {descriptors_s:.1f} s, "
                f"then {1000 * fit_s:.1f} ms per fit)"
            )
            measured += [measure(variant, prop, dirs, args.per_member, args.repeat) for prop in props]
    report(measured, args.members)


if __name__ == "__main__":
    main()
