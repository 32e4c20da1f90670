"""A potential that returns NaN energies: every evaluation is a stored non-physical failure."""

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class NanCalculator(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": float("nan"), "forces": np.zeros((n, 3)), "stress": np.zeros(6)}


def nan() -> NanCalculator:
    return NanCalculator()
