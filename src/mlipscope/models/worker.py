"""Run a family's fitting or evaluation code in another Python environment (the parent side).

Families whose dependencies clash with the core environment (pacemaker needs its own numpy and TensorFlow) live in
an isolated environment. The child runs :mod:`mlipscope.models.worker_child` *as a script file*, so that
environment needs only its own packages (numpy, ASE and the family's code), not mlipscope.

- :func:`run_job`: one job in a work directory, request and response as JSON files, log kept beside them;
- :func:`evaluate_frames`: energies/forces/stress for a list of structures, one child start;
- :class:`SubprocessCalculator`: an ASE calculator backed by ONE long-lived child per instance that answers JSON
  lines on stdin/stdout, so many structures do not pay the child's start-up (TensorFlow import, model load) each.

A child that fails raises :class:`WorkerError` carrying the child's error and the tail of its log.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.errors import MlipscopeError

CHILD_SCRIPT = Path(__file__).with_name("worker_child.py")
REQUEST_FILE = "request.json"
RESPONSE_FILE = "response.json"
LOG_FILE = "worker.log"
TAIL_CHARS = 3000


class WorkerError(MlipscopeError, RuntimeError):
    """A job or calculator in a child interpreter failed; the message holds its error and the tail of its log."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message + (f"\n--- child log (tail) ---\n{log_tail}" if log_tail else ""))


def tail_of(path: Path, n_chars: int = TAIL_CHARS) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return text[-n_chars:]


def child_env() -> dict[str, str]:
    """The parent's environment minus what would make the child pick up the parent's packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ banner is noise in every log
    return env


def entry_of(path: Path, function: str) -> str:
    """An entry string ``/abs/file.py:function`` as the child loads it."""
    return f"{Path(path).resolve()}:{function}"


def run_job(
    python: str | Path,
    entry: str,
    payload: dict[str, Any],
    work_dir: str | Path,
    timeout_s: float | None = None,
) -> Any:
    """Run ``entry(payload, work_dir)`` under ``python``; return its JSON result or raise :class:`WorkerError`.

    ``work_dir`` keeps request.json, response.json and worker.log (the child's stdout and stderr) for post-mortems.
    """
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    request = work_dir / REQUEST_FILE
    response = work_dir / RESPONSE_FILE
    log = work_dir / LOG_FILE
    response.unlink(missing_ok=True)
    request.write_text(json.dumps({"entry": entry, "payload": payload, "work_dir": str(work_dir)}))
    command = [str(python), str(CHILD_SCRIPT), "run", str(request)]
    with open(log, "w") as log_handle:
        try:
            proc = subprocess.run(
                command, stdout=log_handle, stderr=subprocess.STDOUT, cwd=work_dir, env=child_env(), timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise WorkerError(f"job {entry} did not finish within {timeout_s} s", tail_of(log)) from None
        except OSError as exc:
            raise WorkerError(f"cannot start {python}: {exc}") from None
    if not response.is_file():
        raise WorkerError(f"job {entry} exited with code {proc.returncode} without a response", tail_of(log))
    answer = json.loads(response.read_text())
    if not answer.get("ok"):
        raise WorkerError(f"job {entry} failed: {answer.get('error')}", answer.get("traceback") or tail_of(log))
    return answer["result"]


def evaluate_frames(
    python: str | Path,
    calculator_entry: str,
    calculator_kwargs: dict[str, Any],
    frames: Sequence[Atoms],
    properties: Sequence[str] = ("energy", "forces", "stress"),
    work_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Energy/forces/stress of every frame in one child run; a frame the model fails on gets ``{"error": why}``.

    Structures go as JSON, not extxyz: JSON floats round-trip exactly, extxyz keeps 8 decimals of positions.
    """
    with tempfile.TemporaryDirectory(prefix="mlipscope-eval-") as tmp:
        work = Path(work_dir) if work_dir is not None else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        structures = [
            {
                "numbers": a.numbers.tolist(),
                "positions": a.positions.tolist(),
                "cell": a.cell[:].tolist(),
                "pbc": a.pbc.tolist(),
            }
            for a in frames
        ]
        (work / "frames.json").write_text(json.dumps(structures))
        payload = {
            "calculator_entry": calculator_entry,
            "calculator_kwargs": calculator_kwargs,
            "frames_file": "frames.json",
            "properties": list(properties),
        }
        results = run_job(python, entry_of(CHILD_SCRIPT, "evaluate_frames"), payload, work)
    for result in results:
        for key in ("forces", "stress"):
            if key in result:
                result[key] = np.asarray(result[key], dtype=float)
    return results


def _end_child(proc: subprocess.Popen | None, log_path: Path | None) -> None:
    """Ask a calculator child to exit (kill it if it does not within 10 s), then remove its log."""
    if proc is not None and proc.poll() is None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"command": "exit"}) + "\n")
            proc.stdin.close()
            proc.wait(timeout=10)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
    if log_path is not None:
        log_path.unlink(missing_ok=True)


class SubprocessCalculator(Calculator):
    """ASE calculator whose model lives in a long-lived child interpreter (one child per calculator instance).

    The child is started on first use and ended by :meth:`close` (or when the calculator is garbage collected).
    Each structure is one JSON line (numbers, positions, cell, pbc) and one JSON line back.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(
        self,
        python: str | Path,
        entry: str,
        kwargs: dict[str, Any] | None = None,
        startup_timeout_s: float = 600.0,
        call_timeout_s: float = 600.0,
        **calc_kwargs,
    ) -> None:
        super().__init__(**calc_kwargs)
        self.python = str(python)
        self.entry = entry
        self.entry_kwargs = dict(kwargs or {})
        self.startup_timeout_s = startup_timeout_s
        self.call_timeout_s = call_timeout_s
        self._proc: subprocess.Popen | None = None
        self._log_path: Path | None = None
        # ends the child and removes its log when this calculator is collected or at interpreter exit (also an exit
        # that runs only the exit handlers, as the sandbox child's does), without a reference to the calculator
        self._finalizer: weakref.finalize | None = None

    # --- child management -----------------------------------------------------------------------------------------
    def _start(self) -> subprocess.Popen:
        handle, log_name = tempfile.mkstemp(prefix="mlipscope-worker-", suffix=".log")
        self._log_path = Path(log_name)
        spec = json.dumps({"entry": self.entry, "kwargs": self.entry_kwargs})
        try:
            proc = subprocess.Popen(
                [self.python, str(CHILD_SCRIPT), "serve", spec],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=handle,
                env=child_env(),
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise WorkerError(f"cannot start {self.python}: {exc}") from None
        finally:
            os.close(handle)
        self._proc = proc
        if self._finalizer is not None:
            self._finalizer.detach()  # its child is gone (a failed call): the new one replaces it
        self._finalizer = weakref.finalize(self, _end_child, proc, self._log_path)
        ready = self._read_line(self.startup_timeout_s)
        if not ready.get("ready"):
            tail = self._tail()
            self.close()
            raise WorkerError(f"calculator {self.entry} did not start: {ready.get('error')}", tail)
        return proc

    def _tail(self) -> str:
        return tail_of(self._log_path) if self._log_path else ""

    def _read_line(self, timeout_s: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while True:
            ready, _, _ = select.select([self._proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                line = self._proc.stdout.readline()
                if line:
                    return json.loads(line)
                code = self._proc.wait(timeout=10)
                tail = self._tail()
                self._proc = None
                raise WorkerError(f"calculator child {self.entry} exited with code {code}", tail)
            if time.monotonic() >= deadline:
                tail = self._tail()
                self.close()
                raise WorkerError(f"calculator child {self.entry} gave no answer within {timeout_s} s", tail)

    def close(self) -> None:
        """End the child (if running) and remove its log."""
        proc, self._proc = self._proc, None
        log_path, self._log_path = self._log_path, None
        if self._finalizer is not None:
            self._finalizer.detach()  # done here instead
            self._finalizer = None
        _end_child(proc, log_path)

    @property
    def child_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- ASE ------------------------------------------------------------------------------------------------------
    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        assert self._proc is not None and self._proc.stdin is not None
        wanted = ["forces", "stress"] if self.atoms.pbc.all() else ["forces"]
        message = {
            "numbers": self.atoms.numbers.tolist(),
            "positions": self.atoms.positions.tolist(),
            "cell": self.atoms.cell[:].tolist(),
            "pbc": self.atoms.pbc.tolist(),
            "properties": wanted,
        }
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            tail = self._tail()
            self._proc = None
            raise WorkerError(f"calculator child {self.entry} is gone", tail) from None
        reply = self._read_line(self.call_timeout_s)
        if "error" in reply:
            raise WorkerError(f"calculator {self.entry} failed on this structure: {reply['error']}", self._tail())
        self.results["energy"] = self.results["free_energy"] = float(reply["energy"])
        self.results["forces"] = np.asarray(reply["forces"], dtype=float)
        if "stress" in reply:
            self.results["stress"] = np.asarray(reply["stress"], dtype=float)
