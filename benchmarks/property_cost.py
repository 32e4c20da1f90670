"""Cost of the extended property families per model family: seconds per evaluation on this machine.

Times thermal conductivity (phono3py RTA), stacking faults (GSFE), dimer curves, thermal expansion (QHA), melting
point (interface method, LAMMPS) and the MD stability protocols, configured as in the ``si-full`` suite, for
Stillinger–Weber, Tersoff and one small member of each fitted family given with ``--families`` (fitted on the
mlearn Si training set first, with :data:`MEMBER_SETTINGS`; the fit is not timed here, see fit_throughput.py).

Each fit and each (property, model) cell runs in a fresh child interpreter (the runner's sandbox, one BLAS thread
as in its workers), so a model that crashes or raises fills its own cell with a reference to the reason printed
under the table, one that runs past ``--timeout-s`` with ``> <limit> s``, and the other cells are measured as if it
had not run. A cell's time is that of the property's ``compute`` call in the child, as in a worker that has run
evaluations before: loading the calculator and importing phonopy/phono3py come before the clock starts. A property
a model cannot run (the melting point needs LAMMPS pair commands) gets its reason.

    .venv/bin/python benchmarks/property_cost.py [--families snap,pod,gap,mtp,nnp] [--properties dimer,...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

#: the extended property families, by their label in the si-full suite
PROPERTIES = ("thermal_conductivity", "stacking_faults", "dimer", "thermal_expansion", "melting_point", "md_stability")
#: one small member per fitted family: the defaults for the linear families, the sizes of the ensembles of
#: examples/si.toml for the others (a family not listed here gets its defaults)
MEMBER_SETTINGS: dict[str, dict] = {
    "snap": {},
    "pod": {},
    "gap": {"soap_n_sparse": 150, "soap_n_max": 4, "soap_l_max": 3},
    "mtp": {"level": 6, "bfgs_steps": 40},
    "nnp": {
        "epochs": 20,
        "batch_size": 32,
        "hidden_layers": 2,
        "hidden_width": 32,
        "angular_cutoff_a": 3.5,
        "radial_shifts": 16,
    },
}
BUILTIN_MODELS = ("sw", "tersoff")
#: characters of a failure reason printed under the table
REASON_CHARS = 240


# --- run in the child interpreter ----------------------------------------------------------------------------------


def fit_member(family: str, directory: str) -> str:
    """Fit the small member of ``family`` on the mlearn Si training set into ``directory``; returns it."""
    from mlipscope.data.examples import load_example
    from mlipscope.models.registry import get_family

    impl = get_family(family)
    hyperparameters = {**impl.hyperparameter_space().defaults(), **MEMBER_SETTINGS.get(family, {})}
    impl.fit(load_example("si_mlearn_train"), hyperparameters, 0, Path(directory))
    return directory


def time_cell(label: str, spec: str) -> float:
    """Seconds of one ``compute`` of property ``label`` (as in the si-full suite) with the model ``spec``."""
    from mlipscope.calculators import make_calculator
    from mlipscope.properties.suite import build_suite

    prop = build_suite("si-full", [label])[0]
    calculator = make_calculator(spec)
    import phono3py  # noqa: F401 - imported by the phonon properties on first use: not part of an evaluation
    import phonopy  # noqa: F401

    start = time.perf_counter()
    prop.compute(calculator)
    return time.perf_counter() - start


# --- the parent ------------------------------------------------------------------------------------------------------


def in_child(function: str, args: tuple, timeout_s: float) -> tuple[object, str | None, bool]:
    """``function(*args)`` of this module in a fresh sandbox child: (its value, None, False), or (None, why it
    failed, whether it ran past ``timeout_s``)."""
    from mlipscope.failures import FailureKind
    from mlipscope.runner.sandbox import Sandbox, SandboxCrash

    sandbox = Sandbox()
    try:
        return sandbox.call(f"{Path(__file__).stem}:{function}", args, timeout_s=timeout_s), None, False
    except SandboxCrash as crash:
        return None, " ".join(crash.reason.split()), crash.kind == FailureKind.TIMEOUT
    finally:
        sandbox.close()


def fitted_models(families: list[str], root: Path, timeout_s: float) -> tuple[dict[str, str], dict[str, str]]:
    """(model name -> spec, model name -> why it could not be fitted): the built-in potentials, then one member per
    family."""
    models = {name: name for name in BUILTIN_MODELS}
    unfitted: dict[str, str] = {}
    for family in families:
        start = time.perf_counter()
        directory, reason, _ = in_child("fit_member", (family, str(root / family)), timeout_s)
        if reason is None:
            models[family] = str(directory)
            print(f"fitted {family} in {time.perf_counter() - start:.0f} s", flush=True)
        else:
            unfitted[family] = f"fit failed: {reason}"
    return models, unfitted


def note(notes: list[str], label: str, name: str, reason: str) -> str:
    """Add a failure reason to the notes under the table; the cell's reference to it."""
    notes.append(f"{label}, {name}: {reason[:REASON_CHARS]}")
    return f"[{len(notes)}]"


def cell(label: str, name: str, spec: str, timeout_s: float, notes: list[str]) -> str:
    """One measured cell: the seconds, ``> <limit> s`` past the time limit, or a reference to the reason."""
    seconds, reason, timed_out = in_child("time_cell", (label, spec), timeout_s)
    if timed_out:
        return f"> {timeout_s:.0f} s"
    return f"{seconds:.1f} s" if reason is None else note(notes, label, name, reason)


def print_table(rows: dict[str, dict[str, str]], models: list[str], notes: list[str]) -> None:
    width = max(12, *(len(m) + 2 for m in models))
    print(f"{'property':<22}" + "".join(f"{m:>{width}}" for m in models))
    for label, cells in rows.items():
        print(f"{label:<22}" + "".join(f"{cells[m]:>{width}}" for m in models))
    for number, note in enumerate(notes, start=1):
        print(f"[{number}] {note}")


def main() -> None:
    from mlipscope.models.registry import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="", help=f"fitted families to add, of {', '.join(FAMILIES)}")
    parser.add_argument("--properties", default=",".join(PROPERTIES), help="labels of the si-full suite")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="hard limit of one fit or one cell")
    args = parser.parse_args()
    families = [f for f in args.families.split(",") if f]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        parser.error(f"--families: unknown {unknown}; the fitted families are {', '.join(FAMILIES)}")
    labels = [p for p in args.properties.split(",") if p]
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start", flush=True)
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        models, unfitted = fitted_models(families, Path(tmp), args.timeout_s)
        names = [*models, *unfitted]
        rows: dict[str, dict[str, str]] = {}
        for label in labels:
            rows[label] = {}
            for name in names:
                if name in unfitted:
                    rows[label][name] = note(notes, label, name, unfitted[name])
                else:
                    rows[label][name] = cell(label, name, models[name], args.timeout_s, notes)
                print(f"  {label} / {name}: {rows[label][name]}", flush=True)
    print()
    print_table(rows, names, notes)


if __name__ == "__main__":
    main()
