"""Isolated Python environments for MLIP families whose dependencies clash with the core environment.

pacemaker (ACE) fits with TensorFlow through ``tensorpotential``, which wants its own TensorFlow/Keras/protobuf
stack and a numpy older than the core one (``numpy<2.4``: tensorpotential's metrics call ``float()`` on 1-element
arrays, an error from numpy 2.4 on). It therefore lives in ``.venv-ace`` and is driven through
:mod:`mlipscope.models.worker`. DeePMD-kit (``.venv-deepmd``: its compiled ops are built for another torch) and
SevenNet (``.venv-sevennet``: e3nn >= 0.5 against mace-torch's 0.4.4) live in theirs for the same reason.

An environment's interpreter is found, in this order, at ``$MLIPSCOPE_<NAME>_PYTHON``, ``<repo>/.venv-<name>``
(for a source checkout) and ``<user cache>/mlipscope/envs/venv-<name>``. Create one with::

    python -m mlipscope.models.environments ace            # into the default place
    python -m mlipscope.models.environments ace --dir DIR  # elsewhere (then set MLIPSCOPE_ACE_PYTHON)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlipscope.errors import InputError


@dataclass(frozen=True)
class EnvironmentSpec:
    """How to build one isolated environment: pip install steps run in order, and the imports that prove it."""

    name: str
    python_version: str
    install_steps: tuple[tuple[str, ...], ...]
    check_imports: tuple[str, ...]

    @property
    def env_var(self) -> str:
        return f"MLIPSCOPE_{self.name.upper()}_PYTHON"


ENVIRONMENTS: dict[str, EnvironmentSpec] = {
    "ace": EnvironmentSpec(
        name="ace",
        python_version="3.11",
        install_steps=(
            (
                "tensorflow-cpu==2.20.0",
                "tf-keras==2.20.1",
                "python-ace>=0.4.0rc1",
                "numpy>=2.0,<2.4",
                "pandas<3",
                "scipy",
                "matscipy",
                "sympy",
                "ase>=3.23",
                "pyyaml",
                "tqdm",
                "requests",
                "questionary",
                "rich",
                "scikit-learn",
            ),
            # tensorpotential's Linux metadata asks for tensorflow[and-cuda] (GBs of CUDA wheels): its other
            # requirements are installed above, so it goes in without dependencies.
            ("--no-deps", "tensorpotential==0.6.2.1"),
        ),
        check_imports=("numpy", "ase", "pandas", "pyace", "tensorpotential", "tensorflow"),
    ),
    # DeePMD-kit's PyPI wheel ships C++ ops compiled against one torch (3.2.0: torch 2.11, whose PyPI wheel pulls
    # GBs of CUDA); its [torch] extra pins that torch. So the CPU torch of the core environment goes in first and
    # deepmd-kit without the extra; its ops library then does not load with this torch, which the se_e2_a/se_e3
    # descriptors do not need (mlipscope.models.deepmd_child imports DeePMD with ENABLE_CUSTOMIZED_OP off).
    "deepmd": EnvironmentSpec(
        name="deepmd",
        python_version="3.11",
        install_steps=(
            ("torch==2.13.0",),  # the CPU wheel (the local wheel on this machine, else PyPI's)
            ("deepmd-kit==3.2.0", "e3nn>=0.5.9", "ase>=3.23"),
        ),
        check_imports=("numpy", "ase", "torch", "e3nn", "deepmd", "deepmd.calculator"),
    ),
    # SevenNet (foundation model, weights in the sevenn wheel) needs e3nn >= 0.5; mace-torch in the core pins
    # e3nn 0.4.4. Evaluated through the calculator server (mlipscope.foundation_models). About 1.5 GB, 2 min.
    "sevennet": EnvironmentSpec(
        name="sevennet",
        python_version="3.11",
        install_steps=(("torch==2.13.0",), ("sevenn==0.13.0", "ase>=3.23")),
        check_imports=("numpy", "ase", "torch", "e3nn", "sevenn", "sevenn.calculator"),
    ),
}


def get_spec(name: str) -> EnvironmentSpec:
    if name not in ENVIRONMENTS:
        raise InputError(None, "environment", f"one of {sorted(ENVIRONMENTS)}", got=name)
    return ENVIRONMENTS[name]


def repo_root() -> Path | None:
    """The source checkout holding this package (``<root>/src/mlipscope``), or None for an installed wheel."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "pyproject.toml").is_file() else None


def user_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlipscope" / "envs"


def default_env_dir(name: str) -> Path:
    """Where :func:`create_environment` puts an environment by default."""
    root = repo_root()
    return root / f".venv-{name}" if root is not None else user_cache_dir() / f"venv-{name}"


def candidate_pythons(name: str) -> list[Path]:
    spec = get_spec(name)
    candidates = []
    if os.environ.get(spec.env_var):
        candidates.append(Path(os.environ[spec.env_var]))
    root = repo_root()
    if root is not None:
        candidates.append(root / f".venv-{name}" / "bin" / "python")
    candidates.append(user_cache_dir() / f"venv-{name}" / "bin" / "python")
    return candidates


def find_python(name: str) -> Path | None:
    """The interpreter of environment ``name`` (first existing candidate), or None."""
    spec = get_spec(name)
    if os.environ.get(spec.env_var):  # an explicit choice is never silently replaced by another environment
        explicit = Path(os.environ[spec.env_var])
        return explicit if explicit.is_file() else None
    return next((p for p in candidate_pythons(name) if p.is_file()), None)


def how_to_create(name: str) -> str:
    spec = get_spec(name)
    return (
        f"create it with `python -m mlipscope.models.environments {name}` (builds {default_env_dir(name)}), "
        f"or point {spec.env_var} at the python of an environment with {', '.join(spec.check_imports)}"
    )


def check_environment(name: str) -> tuple[bool, str]:
    """(True, "") when environment ``name`` exists and imports its packages, else (False, why + how to fix)."""
    spec = get_spec(name)
    python = find_python(name)
    if python is None:
        looked = ", ".join(str(p) for p in candidate_pythons(name))
        return False, f"the isolated '{name}' environment was not found (looked at {looked}); {how_to_create(name)}"
    code = "import " + ", ".join(spec.check_imports)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=300, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{python} cannot run ({exc}); {how_to_create(name)}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return False, f"{python} cannot `{code}` ({last}); {how_to_create(name)}"
    return True, ""


def base_python(version: str) -> str:
    """A ``python<version>`` executable to build the venv from (the running one when its version matches)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        raise RuntimeError(f"python{version} is needed to build this environment and was not found on PATH")
    return found


def create_environment(name: str, target: str | Path | None = None, python: str | None = None) -> Path:
    """Build environment ``name`` (a venv plus its pip install steps) and return its python.

    Takes a few minutes and about 2.7 GB for 'ace' (TensorFlow is 1.8 GB of it). Re-running updates in place.
    """
    spec = get_spec(name)
    target = Path(target) if target is not None else default_env_dir(name)
    env_python = target / "bin" / "python"
    if not env_python.is_file():
        print(f"[{name}] creating venv {target}", flush=True)
        subprocess.run([python or base_python(spec.python_version), "-m", "venv", str(target)], check=True)
    for i, step in enumerate(spec.install_steps, 1):
        print(f"[{name}] pip install step {i}/{len(spec.install_steps)}: {' '.join(step)}", flush=True)
        subprocess.run([str(env_python), "-m", "pip", "install", *step], check=True)
    print(f"[{name}] ready: {env_python}", flush=True)
    return env_python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create an isolated environment for an MLIP family.")
    parser.add_argument("name", choices=sorted(ENVIRONMENTS))
    parser.add_argument("--dir", type=Path, default=None, help="where to create it (default: %(default)s)")
    parser.add_argument("--python", default=None, help="base interpreter for the venv (default: python3.11)")
    parser.add_argument("--check", action="store_true", help="only check whether it is usable")
    args = parser.parse_args(argv)
    if args.check:
        ok, why = check_environment(args.name)
        print("ok" if ok else why)
        return 0 if ok else 1
    create_environment(args.name, args.dir, args.python)
    ok, why = check_environment(args.name) if args.dir is None else (True, "")
    if not ok:
        print(why, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
