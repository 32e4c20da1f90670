"""MD stability protocols: Stillinger–Weber Si conserves energy and survives both ramps; a model that breaks
after a while is caught at the right point of the ramp."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from mlipscope.calculators import make_calculator
from mlipscope.errors import InputError
from mlipscope.properties.md_stability import MDStability, heating_ramp, nve_drift


class BreaksAfter(Calculator):
    """Stillinger–Weber until ``n_calls`` calls, then non-finite energies: a model leaving its training domain."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, n_calls: int) -> None:
        super().__init__()
        self.inner, self.n_calls, self.calls = make_calculator("sw"), n_calls, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.calls += 1
        work = self.atoms.copy()
        work.calc = self.inner
        energy, forces = work.get_potential_energy(), work.get_forces()
        self.results = {"energy": energy if self.calls < self.n_calls else float("nan"), "forces": forces}


def _short(**settings) -> MDStability:
    return MDStability(material="si", nve_ps=0.3, ramp_ps=1.0, compression_segment_ps=0.05, **settings)


def test_stillinger_weber_conserves_energy_and_survives_the_ramps():
    result = _short().compute(make_calculator("sw"))
    assert result.values["nve_drift_mev_atom_ps"] < 0.5
    assert result.values["heating_survival_k"] == 3000.0
    assert result.values["compression_survival_volume_fraction"] == pytest.approx(0.7)
    runs = result.details["md_runs"]
    assert len(runs) == 3 and all(r["failure_kind"] is None for r in runs)
    assert "nve_drift_mev_atom_ps" in result.error_metrics


def test_a_model_that_breaks_mid_ramp_is_caught_there():
    cell = bulk("Si", "diamond", 5.431, cubic=True).repeat(2)
    # 50 segments of 20 steps, about a call per step: the model breaks near the middle of the ramp
    survived_k, run = heating_ramp(
        cell, BreaksAfter(n_calls=500), start_k=300.0, end_k=3000.0, duration_ps=1.0, timestep_fs=1.0, seed=0
    )
    assert 300.0 < survived_k < 3000.0
    assert run.failure_kind == "exploded" and 0.0 < run.failure_time_ps < 1.0
    drift, nve_run, _ = nve_drift(cell, BreaksAfter(n_calls=100), temperature_k=300.0, duration_ps=0.5,
                                  timestep_fs=1.0, seed=0)  # fmt: skip
    assert np.isnan(drift) and nve_run.failed


def test_bad_settings_are_refused():
    with pytest.raises(InputError):
        MDStability(ramp_start_k=500.0, ramp_end_k=400.0)
    with pytest.raises(InputError):
        MDStability(compression_step=0.5, compression_end=0.7)


def test_distance_check_takes_a_coordinate_a_hair_below_zero():
    """np.mod(-1e-17, L) is L itself, which the periodic k-d tree of the MD checks refused (a Tersoff ramp hit it)."""
    from ase import Atoms

    from mlipscope.properties.md import min_pair_distance_a

    atoms = Atoms("Si2", positions=[[-1e-17, 0.0, 0.0], [1.0, 0.0, 0.0]], cell=[10.0] * 3, pbc=True)
    assert min_pair_distance_a(atoms, 1.2) == pytest.approx(1.0)
