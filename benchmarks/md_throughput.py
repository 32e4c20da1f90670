"""MD throughput (atom-steps per second) for the same potential (Stillinger-Weber Si) through LAMMPS directly and
through ASE MD with the LAMMPSlib calculator: the reason MD properties use LAMMPS when a family has a pair style.

Usage: python benchmarks/md_throughput.py [--sizes 64 216 512] [--steps 2000] [--ase-steps 200]
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.progress import track
from rich.table import Table

from mlipscope.calculators import builtin_lammps_commands, sw_silicon
from mlipscope.properties.md import run_nvt
from mlipscope.properties.structures import perfect_cell, repeats_for_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 216, 512])
    parser.add_argument("--steps", type=int, default=2000, help="LAMMPS MD steps per size")
    parser.add_argument("--ase-steps", type=int, default=200, help="ASE MD steps per size (much slower)")
    parser.add_argument("--temperature-k", type=float, default=1000.0)
    args = parser.parse_args()

    calc = sw_silicon()
    commands = builtin_lammps_commands("sw")
    table = Table(title="NVT MD throughput, SW Si, 1 fs steps, 1 process")
    for column in ("atoms", "LAMMPS atom-steps/s", "ASE atom-steps/s", "LAMMPS / ASE"):
        table.add_column(column, justify="right")
    for size in track(args.sizes, description="running MD"):
        atoms = perfect_cell("Si", repeats_for_size(size), 5.431)
        common = {"temperature_k": args.temperature_k, "timestep_fs": 1.0, "sample_every_fs": 100.0}
        lmp = run_nvt(atoms, duration_ps=args.steps / 1000.0, lammps_commands=commands, elements=["Si"], **common)
        ase_md = run_nvt(atoms, duration_ps=args.ase_steps / 1000.0, calculator=calc, **common)
        ratio = lmp.atom_steps_per_s / ase_md.atom_steps_per_s
        table.add_row(str(size), f"{lmp.atom_steps_per_s:.3g}", f"{ase_md.atom_steps_per_s:.3g}", f"{ratio:.0f}x")
    Console().print(table)


if __name__ == "__main__":
    main()
