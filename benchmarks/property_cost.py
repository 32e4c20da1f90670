"""Cost of the extended property families per model family: seconds per evaluation on this machine.

Times thermal conductivity (phono3py RTA), stacking faults (GSFE), dimer curves, thermal expansion (QHA), melting
point (interface method, LAMMPS) and the MD stability protocols for Stillinger–Weber, Tersoff and members of the
fitted families given with ``--families`` (one small member each, fitted on the mlearn Si training set first; the
fit is not timed here, see fit_throughput.py). A property a model cannot run (the melting point needs LAMMPS pair
commands) prints its reason instead of a time.

    .venv/bin/python benchmarks/property_cost.py [--families snap,pod] [--properties dimer,stacking_faults]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mlipscope.calculators import make_calculator
from mlipscope.properties.dimer import DimerCurve
from mlipscope.properties.md_stability import MDStability
from mlipscope.properties.melting import MeltingPoint
from mlipscope.properties.stacking_faults import StackingFaults
from mlipscope.properties.thermal_conductivity import ThermalConductivity
from mlipscope.properties.thermal_expansion import ThermalExpansion

PROPERTIES = {
    "thermal_conductivity": lambda: ThermalConductivity(material="si"),
    "stacking_faults": lambda: StackingFaults(material="si"),
    "dimer": lambda: DimerCurve(material="si"),
    "thermal_expansion": lambda: ThermalExpansion(material="si"),
    "melting_point": lambda: MeltingPoint(material="si"),
    "md_stability": lambda: MDStability(material="si"),
}


def fitted_member(family: str, root: Path) -> str:
    """A small member of ``family`` fitted on the mlearn Si training set; returns its model directory."""
    from mlipscope.data.examples import load_example
    from mlipscope.models.registry import get_family

    impl = get_family(family)
    hyperparameters = impl.hyperparameter_space().defaults()
    directory = root / family
    impl.fit(load_example("si_mlearn_train"), hyperparameters, 0, directory)
    return str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="", help="fitted families to add, e.g. snap,pod")
    parser.add_argument("--properties", default=",".join(PROPERTIES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = {"sw": "sw", "tersoff": "tersoff"}
        for family in filter(None, args.families.split(",")):
            models[family] = fitted_member(family, Path(tmp))
        print(f"{'property':<22} " + " ".join(f"{m:>12}" for m in models))
        for name in args.properties.split(","):
            cells = []
            for spec in models.values():
                start = time.perf_counter()
                try:
                    PROPERTIES[name]().compute(make_calculator(spec))
                    cells.append(f"{time.perf_counter() - start:>10.1f} s")
                except Exception as exc:  # noqa: BLE001 - a benchmark reports what failed and goes on
                    cells.append(f"{type(exc).__name__[:12]:>12}")
            print(f"{name:<22} " + " ".join(cells))


if __name__ == "__main__":
    main()
