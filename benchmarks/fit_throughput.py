"""Fit throughput per MLIP family: fits per minute on this machine, printed (and optionally plotted).

For the linear families (SNAP, qSNAP, POD) the descriptor computation for the training set is timed once, then
``--members`` members that share those descriptors (Sobol points over the weights / regularisation) are fitted
through :func:`mlipscope.models.sampling.fit_member`, each writing its model directory and model.json. For POD the
time of one LAMMPS ``fitpod`` run (which recomputes descriptors every time) is printed beside it. Other families
(``--families gap,mtp,...``) fit ``--members`` members sampled over their full space.

    .venv/bin/python benchmarks/fit_throughput.py --members 200 [--plot fit_throughput.png]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.progress import track

from mlipscope.data.examples import load_example
from mlipscope.models.base import HyperparameterSpace
from mlipscope.models.registry import get_family
from mlipscope.models.sampling import MemberSpec, fit_member, sample

#: hyperparameters that do not change the descriptors of the linear families
SOLVER_PARAMETERS = {"energy_weight", "stress_weight", "ridge"}
LINEAR_VARIANTS = {"snap": ("snap", {"quadratic": False}), "qsnap": ("snap", {"quadratic": True}), "pod": ("pod", {})}


def bench_family(label: str, n_members: int, dataset, root: Path) -> dict[str, float]:
    family_name, fixed = LINEAR_VARIANTS.get(label, (label, {}))
    family = get_family(family_name)
    ok, why = family.available()
    if not ok:
        print(f"{label}: skipped ({why})")
        return {}
    space = family.hyperparameter_space()
    result: dict[str, float] = {}
    if label in LINEAR_VARIANTS:
        start = time.perf_counter()
        family.fit(dataset, fixed, 0, root / f"{label}_warmup")  # computes (or loads) the descriptors
        result["descriptor_s"] = time.perf_counter() - start
        solver_space = HyperparameterSpace(tuple(p for p in space.parameters if p.name in SOLVER_PARAMETERS))
        points = [{**fixed, **hp} for hp in sample(solver_space, n_members, "sobol", seed=0)]
    else:
        repair = getattr(family, "repair_hyperparameters", None)
        points = sample(space, n_members, "sobol", seed=0, repair=repair)
    members = [MemberSpec(family_name, hp, dataset.name, 0, index=i) for i, hp in enumerate(points)]
    start = time.perf_counter()
    records = [fit_member(m, dataset, root / label, family) for m in track(members, description=f"fitting {label}")]
    elapsed = time.perf_counter() - start
    n_ok = sum(r.ok for r in records)
    result.update(members=len(members), ok=n_ok, wall_s=elapsed, fits_per_min=60.0 * len(members) / elapsed)
    failures = {r.reason for r in records if not r.ok}
    if failures:
        print(f"{label}: {len(members) - n_ok} failed fits, e.g. {sorted(failures)[0][:160]}")
    if label == "pod":
        start = time.perf_counter()
        family.fit_fitpod(dataset, {}, 0, root / "pod_fitpod")
        result["fitpod_s_per_fit"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--families", default="snap,qsnap,pod")
    parser.add_argument("--dataset", default="si_mlearn_train")
    parser.add_argument("--plot", type=Path, default=None, help="write a bar chart of fits per minute here")
    args = parser.parse_args()
    dataset = load_example(args.dataset)
    print(f"dataset {args.dataset}: {len(dataset)} frames, {dataset.n_atoms} atoms; {os.cpu_count()} cores")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MLIPSCOPE_CACHE_DIR", str(Path(tmp) / "cache"))  # cold cache unless given
        for label in args.families.split(","):
            results[label] = bench_family(label.strip(), args.members, dataset, Path(tmp))
    print(f"\n{'family':8s} {'descriptors s':>14s} {'members':>8s} {'ok':>5s} {'wall s':>8s} {'fits/min':>10s}")
    for label, r in results.items():
        if not r:
            continue
        print(
            f"{label:8s} {r.get('descriptor_s', float('nan')):14.2f} {r['members']:8d} {r['ok']:5d} "
            f"{r['wall_s']:8.2f} {r['fits_per_min']:10.0f}"
        )
        if "fitpod_s_per_fit" in r:
            print(f"{'':8s} LAMMPS fitpod (recomputes descriptors): {r['fitpod_s_per_fit']:.2f} s per fit")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = [k for k, r in results.items() if r]
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.bar(labels, [results[k]["fits_per_min"] for k in labels])
        ax.set_yscale("log")
        ax.set_ylabel("fits per minute")
        ax.set_title(f"{args.dataset}, {args.members} members, descriptors cached")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"figure: {args.plot}")


if __name__ == "__main__":
    main()
