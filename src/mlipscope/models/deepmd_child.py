"""DeePMD-kit jobs run inside the isolated ``deepmd`` environment by :mod:`mlipscope.models.worker_child`.

Plain script: imports only what that environment has (numpy, torch, ASE, deepmd-kit), never mlipscope.

DeePMD-kit's PyPI wheel carries a C++ ops library (``libdeepmd_op_pt.so``) compiled against one torch release; with
another torch, importing ``deepmd.pt`` raises. The ops serve model compression (tabulated embeddings) and
multi-rank LAMMPS, not the plain se_e2_a / se_e3 descriptors trained and evaluated here, for which DeePMD-kit has
pure-torch code paths (the ones it uses when the library is absent). :func:`prepare_deepmd` therefore registers
``deepmd.pt.cxx_op`` with ``ENABLE_CUSTOMIZED_OP = False`` when the torch versions differ, before DeePMD is imported;
nothing installed is modified. Run as ``python deepmd_child.py dp --pt train input.json`` it is DeePMD's ``dp``
command with that preparation.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import types
from pathlib import Path

TRAIN_LOG = "dp_train.log"
LCURVE = "lcurve.out"
#: written by the training process: whether it used DeePMD's compiled ops
OPS_FILE = "customized_ops.json"
#: learning-curve columns whose non-finite final value means the training diverged
DIVERGENCE_KEYS = ("deepmd_rmse_trn", "deepmd_rmse_e_trn", "deepmd_rmse_f_trn")

# Run as a script (or loaded by worker_child.py from this directory), this directory is on sys.path, where
# mlipscope's own deepmd.py would shadow the deepmd-kit package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if not (p and Path(p).resolve() == _HERE)]


def ops_compatible() -> bool:
    """True when the installed DeePMD ops library was built for the torch that is installed."""
    import torch
    from deepmd.env import GLOBAL_CONFIG
    from packaging.version import Version

    built = GLOBAL_CONFIG.get("pt_version", "")
    return bool(built) and built == Version(torch.__version__).public


def prepare_deepmd() -> bool:
    """Make ``deepmd.pt`` importable; return whether DeePMD's compiled ops are in use."""
    if "deepmd.pt.cxx_op" in sys.modules:
        return bool(getattr(sys.modules["deepmd.pt.cxx_op"], "ENABLE_CUSTOMIZED_OP", False))
    if ops_compatible():
        return True
    stub = types.ModuleType("deepmd.pt.cxx_op")
    stub.ENABLE_CUSTOMIZED_OP = False
    stub.__all__ = ["ENABLE_CUSTOMIZED_OP"]
    sys.modules["deepmd.pt.cxx_op"] = stub
    return False


def read_lcurve(path: Path) -> dict[str, float]:
    """DeePMD's last reported training losses/RMSEs (``lcurve.out``: a '#' header line, then one row per report)."""
    if not path.is_file():
        return {}
    header: list[str] = []
    last: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            words = line.lstrip("#").split()
            if words[:1] == ["step"]:
                header = words
        elif line.strip():
            last = line.split()
    if not header or not last or len(header) != len(last):
        return {}
    return {f"deepmd_{name}": float(value) for name, value in zip(header, last, strict=True) if name != "step"}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("deepmd-kit", "torch", "numpy", "ase"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


#: thread settings for DeePMD's process unless the caller set them: on a small, shared CPU one thread with no
#: data-loader workers trains ~10x faster than torch's default and keeps the fit reproducible
THREAD_DEFAULTS = {
    "OMP_NUM_THREADS": "1",
    "DP_INTRA_OP_PARALLELISM_THREADS": "1",
    "DP_INTER_OP_PARALLELISM_THREADS": "1",
    "NUM_WORKERS": "0",
}


def train_and_freeze(input_json: str, output: str) -> None:
    """``dp --pt train input_json`` then ``dp --pt freeze -o output``, in this process (one DeePMD import).

    Whether DeePMD's compiled ops were used goes to :data:`OPS_FILE`, so the job need not import torch to tell."""
    Path(OPS_FILE).write_text(json.dumps({"customized_ops": prepare_deepmd()}))
    from deepmd.main import main

    main(["--pt", "train", input_json, "--skip-neighbor-stat"])
    main(["--pt", "freeze", "-o", output])


def fit(payload: dict, work_dir: str) -> dict:
    """Train with ``payload['input']`` (DeePMD's input.json) on the systems already in ``work_dir``; freeze it."""
    work = Path(work_dir)
    (work / "input.json").write_text(json.dumps(payload["input"], indent=2))
    env = {**THREAD_DEFAULTS, **os.environ}
    log = work / TRAIN_LOG
    command = [sys.executable, str(Path(__file__).resolve()), "train", "input.json", payload["output"]]
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run(command, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env)
    train_s = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"`dp --pt train` / `dp --pt freeze` exited with code {proc.returncode} (log: {log})")
    curve = read_lcurve(work / LCURVE)
    if not curve:
        raise RuntimeError(f"DeePMD training wrote no learning curve ({LCURVE})")
    bad = {k: v for k, v in curve.items() if k in DIVERGENCE_KEYS and not math.isfinite(v)}
    if bad:
        raise RuntimeError(f"DeePMD training diverged: final {bad}")
    if not (work / payload["output"]).is_file():
        raise RuntimeError(f"`dp --pt freeze` wrote no {payload['output']}")
    return {
        "train_wall_time_s": train_s,
        # nan columns are properties without reference data (e.g. virials when no frame has stress)
        "metrics": {k: v for k, v in curve.items() if math.isfinite(v)},
        "versions": versions(),
        "customized_ops": bool(json.loads((work / OPS_FILE).read_text())["customized_ops"]),
    }


def make_calculator(path: str):
    """DeePMD's ASE calculator for a frozen model (entry for the worker's calculator server)."""
    prepare_deepmd()
    from deepmd.calculator import DP

    return DP(path)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "dp":
        prepare_deepmd()
        from deepmd.main import main

        main(sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "train":
        train_and_freeze(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"usage: {sys.argv[0]} dp [dp arguments] | train INPUT_JSON OUTPUT_PTH")
