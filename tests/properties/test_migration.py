"""Migration barriers by climbing-image NEB (Stillinger-Weber Si)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.geometry import find_mic

from mlipscope.errors import InputError
from mlipscope.properties.migration import MigrationBarrier, migration_endpoints
from mlipscope.runner.evaluate import evaluate_property


def test_endpoints_are_one_nearest_neighbour_jump():
    a = 5.431
    for defect, n_atoms in (("vacancy", 63), ("interstitial", 65)):
        initial, final = migration_endpoints(defect, 2, "Si", a)
        assert len(initial) == len(final) == n_atoms
        moved = np.linalg.norm(find_mic(final.positions - initial.positions, initial.cell)[0], axis=1)
        assert (moved > 1e-9).sum() == 1
        # vacancy: a bond length sqrt(3)/4 a; interstitial: T -> T along <111>, also sqrt(3)/4 a
        assert moved.max() == pytest.approx(np.sqrt(3) / 4 * a, abs=1e-9)


def test_bad_defect_is_an_input_error():
    with pytest.raises(InputError, match="defect"):
        MigrationBarrier(defect="divacancy")


@pytest.mark.slow
def test_sw_vacancy_metastable_end_points_are_a_recorded_failure(sw_calc):
    # Stillinger-Weber quirk: the ideal vacancy (E_f = 4.34 eV, the unrelaxed SW value, Balamane et al. PRB 46,
    # 2250 (1992)) is a local minimum with zero forces, and the band falls into a reconstructed state ~1.5 eV
    # lower (E_f ~ 2.8 eV, the relaxed SW value of the same paper). The barrier is then meaningless: it must be
    # recorded as a failed evaluation with that reason, not reported as ~0.
    prop = MigrationBarrier(defect="vacancy", n_images=3, lattice_a=5.431, max_steps=300)
    outcome = evaluate_property(prop, sw_calc, None)
    assert not outcome.ok
    assert "below the relaxed end points" in outcome.reason
    drop = float(outcome.reason.split("lies ")[1].split(" eV")[0])
    assert drop == pytest.approx(4.34 - 2.82, abs=0.1)
