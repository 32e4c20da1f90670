"""ACE jobs run inside the isolated pacemaker environment by :mod:`mlipscope.models.worker_child`.

Plain script: imports only what that environment has (numpy, pandas, ASE, pyace), never mlipscope.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

# Keys under which the parent writes the DFT labels into the training extxyz (never a calculator's "energy").
ENERGY_KEY = "mlipscope_energy"
FORCES_KEY = "mlipscope_forces"


def write_pacemaker_dataframe(extxyz: Path, out: Path) -> int:
    """pacemaker's training table: a pandas pickle with ``ase_atoms``, ``energy`` (total, eV), ``forces``."""
    import ase.io
    import pandas as pd

    rows = []
    for atoms in ase.io.read(extxyz, ":"):
        energy = float(atoms.info.pop(ENERGY_KEY))
        forces = atoms.arrays.pop(FORCES_KEY)
        atoms.calc = None
        rows.append({"ase_atoms": atoms, "energy": energy, "forces": forces})
    pd.DataFrame(rows).to_pickle(out, compression="gzip", protocol=4)
    return len(rows)


def reference_energies(potential_yaml: Path, elements: list[str]) -> list[float]:
    """Per-element energy offsets E0 that pacemaker subtracted before fitting (``reference_energy: auto``).

    pacemaker fits ``E - sum_i e_i + N * shift`` and records ``{element: e, "shift": shift}`` in the potential's
    metadata, so the total energy is the ACE energy plus ``e_i - shift`` per atom.
    """
    text = potential_yaml.read_text()
    match = re.search(r"^\s*reference_energy:\s*(.+)$", text, flags=re.MULTILINE)
    if match is None:
        return [0.0] * len(elements)
    import yaml

    value = yaml.safe_load(match.group(1))
    ref = json.loads(value) if isinstance(value, str) else value
    shift = float(ref.get("shift", 0.0))
    return [float(ref.get(el, 0.0)) - shift for el in elements]


def set_yace_e0(yace: Path, e0: list[float]) -> None:
    """Write the per-element E0 into the ``E0:`` line of a .yace file (pyace and LAMMPS pair pace add it)."""
    text = yace.read_text()
    line = "E0: [" + ", ".join(repr(float(v)) for v in e0) + "]"
    new, count = re.subn(r"^E0:\s*\[[^\]]*\]\s*$", line, text, count=1, flags=re.MULTILINE)
    if count != 1:
        raise RuntimeError(f"no 'E0: [...]' line found in {yace}")
    yace.write_text(new)


def last_metrics(work_dir: Path) -> dict[str, float]:
    """Training loss and RMSEs (eV/atom, eV/Å) of pacemaker's last reported iteration (its metrics.txt)."""
    import pandas as pd

    path = work_dir / "metrics.txt"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, sep=r"\s+")
    if table.empty:
        return {}
    row = table.iloc[-1]
    out = {"pacemaker_loss": float(row["loss"])} if "loss" in row else {}
    if "rmse_epa" in row:
        out["pacemaker_energy_rmse_ev_per_atom"] = float(row["rmse_epa"])
    if "rmse_f_comp" in row:
        out["pacemaker_force_rmse_ev_a"] = float(row["rmse_f_comp"])
    return out


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("python-ace", "tensorpotential", "tensorflow", "numpy", "ase", "pandas"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def fit(payload: dict, work_dir: str) -> dict:
    """Run pacemaker on ``payload['train_file']`` with ``payload['input_yaml']``; write ``potential.yace``."""
    work = Path(work_dir)
    n_frames = write_pacemaker_dataframe(work / payload["train_file"], work / "train.pckl.gzip")
    (work / "input.yaml").write_text(payload["input_yaml"])
    bin_dir = Path(sys.executable).parent
    start = time.perf_counter()
    with open(work / "pacemaker.out", "w") as out:
        subprocess.run(
            [str(bin_dir / "pacemaker"), "input.yaml", "--no-predict"],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
        subprocess.run(
            [str(bin_dir / "pace_yaml2yace"), "output_potential.yaml", "-o", payload["output"]],
            cwd=work,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    e0 = reference_energies(work / "output_potential.yaml", payload["elements"])
    set_yace_e0(work / payload["output"], e0)
    return {
        "n_frames": n_frames,
        "pacemaker_wall_time_s": time.perf_counter() - start,
        "e0_ev_per_atom": dict(zip(payload["elements"], e0, strict=True)),
        "metrics": last_metrics(work),
        "versions": versions(),
    }


def make_calculator(path: str):
    """pyace's ASE calculator for a .yace file (entry for the worker's calculator server)."""
    from pyace import PyACECalculator

    return PyACECalculator(path)
