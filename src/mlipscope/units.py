"""Unit conversions used throughout (ASE internal units: eV, Å, amu)."""

from ase import units

EV_PER_A3_TO_GPA: float = 1.0 / units.GPa
EV_PER_A2_TO_J_PER_M2: float = units._e * 1e20
