"""Misbehaving models for the failure-injection suite: calculator factories (``injected:<name>``) that the CLI,
its Dask workers and sandbox children import (the tests put this folder on ``PYTHONPATH``)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from ase.calculators.calculator import Calculator, all_changes

from mlipscope.calculators import make_calculator


class _Injected(Calculator):
    """Stillinger-Weber, except that on cells of more than 20 atoms it does what ``mode`` says."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode, self.sw = mode, make_calculator("sw")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        marker = os.environ.get("MLIPSCOPE_TEST_STARTED")
        if marker:  # says "a calculation is running" to the test that waits for it
            Path(marker).touch()
        if self.mode == "slow":
            time.sleep(0.3)
        elif self.mode == "chatty":
            os.write(2, b"chatter " * 16384)  # 128 kB per call into the sandbox log
        elif len(self.atoms) > 20:
            self._misbehave()
        atoms = self.atoms.copy()
        atoms.calc = self.sw
        self.results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
                        "stress": atoms.get_stress()}  # fmt: skip

    def _misbehave(self) -> None:
        if self.mode == "hog":
            import numpy as np

            self.buffer = np.ones(30 * (1 << 30) // 8)  # 30 GiB
        elif self.mode == "detach":
            grandchild = subprocess.Popen(["sleep", "300"], start_new_session=True)
            Path(os.environ["MLIPSCOPE_TEST_GRANDCHILD"]).write_text(str(grandchild.pid))
            time.sleep(3600)


def slow() -> Calculator:
    return _Injected("slow")


def chatty() -> Calculator:
    return _Injected("chatty")


def hog() -> Calculator:
    return _Injected("hog")


def detach() -> Calculator:
    return _Injected("detach")
