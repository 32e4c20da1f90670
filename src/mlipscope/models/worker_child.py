"""Child side of :mod:`mlipscope.models.worker`, run by another environment's Python as a plain script.

It imports only the standard library at start (and numpy/ASE when a job needs them), never mlipscope, because an
isolated environment (e.g. ``.venv-ace`` with its own numpy) need not have mlipscope or its dependencies. Job code
is named by an *entry*, ``/path/to/file.py:function``, loaded from its file.

Modes::

    python worker_child.py run request.json     # one job: entry(payload, work_dir) -> JSON-able result
    python worker_child.py serve '<json spec>'  # long-lived calculator: JSON lines on stdin -> stdout

:func:`evaluate_frames` is the job behind the parent's one-shot evaluation of a list of structures.
``run`` writes ``response.json`` beside the request: ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": ..., "traceback": ...}``. In ``serve`` mode every library print (Python or C level) goes
to stderr so that stdout carries only protocol lines.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

RESPONSE_FILE = "response.json"


def load_entry(entry: str):
    """The callable named by ``/path/to/file.py:function``."""
    path, _, name = entry.rpartition(":")
    spec = importlib.util.spec_from_file_location(f"_mlipscope_job_{Path(path).stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load job file {path!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def results_of(calc, numbers, positions, cell, pbc, properties) -> dict:
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, Voigt) of one structure as plain lists."""
    from ase import Atoms

    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
    atoms.calc = calc
    out: dict = {"energy": float(atoms.get_potential_energy())}
    if "forces" in properties:
        out["forces"] = atoms.get_forces().tolist()
    if "stress" in properties:
        out["stress"] = atoms.get_stress(voigt=True).tolist()
    return out


def run_job(request_path: Path) -> int:
    request = json.loads(request_path.read_text())
    work_dir = Path(request["work_dir"])
    try:
        result = load_entry(request["entry"])(request["payload"], str(work_dir))
        response = {"ok": True, "result": result}
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent as text
        response = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    (request_path.parent / RESPONSE_FILE).write_text(json.dumps(response))
    return 0 if response["ok"] else 1


def evaluate_frames(payload: dict, work_dir: str) -> list[dict]:
    """Job for ``evaluate``: one result dict per frame; a frame that fails gets ``{"error": ...}`` instead."""
    calc = load_entry(payload["calculator_entry"])(**payload.get("calculator_kwargs", {}))
    structures = json.loads((Path(work_dir) / payload["frames_file"]).read_text())
    out = []
    for s in structures:
        try:
            out.append(results_of(calc, s["numbers"], s["positions"], s["cell"], s["pbc"], payload["properties"]))
        except Exception as exc:  # noqa: BLE001 - one bad frame must not lose the others
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    return out


def serve(spec: dict) -> int:
    # Keep a private handle on the real stdout, then point fd 1 at stderr: stray prints cannot corrupt protocol.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        calc = load_entry(spec["entry"])(**spec.get("kwargs", {}))
    except BaseException as exc:  # noqa: BLE001
        traceback.print_exc()
        protocol.write(json.dumps({"ready": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    protocol.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
            if msg.get("command") == "exit":
                break
            reply = results_of(
                calc, msg["numbers"], msg["positions"], msg["cell"], msg["pbc"], msg.get("properties", [])
            )
        except Exception as exc:  # noqa: BLE001 - a failed structure is reported, the server lives on
            traceback.print_exc()
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(reply) + "\n")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("run", "serve"):
        print("usage: worker_child.py run REQUEST.json | serve SPEC_JSON", file=sys.stderr)
        return 2
    mode, arg = argv
    return serve(json.loads(arg)) if mode == "serve" else run_job(Path(arg))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
