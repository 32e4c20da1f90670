import pickle

import numpy as np
import pytest

from mlipscope.errors import InputError
from mlipscope.properties.suite import build_suite, suite_names
from mlipscope.runner.benchmark import load_reference
from mlipscope.runner.evaluate import property_config_hash


@pytest.mark.parametrize("name", suite_names())
def test_every_suite_builds_and_ships_to_workers(name):
    props = build_suite(name)
    labels = [p.label for p in props]
    assert len(labels) == len(set(labels))
    for prop in props:
        clone = pickle.loads(pickle.dumps(prop))  # Dask sends properties to workers
        assert property_config_hash(clone) == property_config_hash(prop)


def test_shipped_reference_covers_suite_labels_only():
    reference = load_reference("si-dft")
    labels = {p.label for p in build_suite("si-full")}
    assert {key.split(".")[0] for key in reference.values} <= labels
    assert reference.values["elastic_perfect.c44_gpa"][0] == pytest.approx(72.18)


def test_overrides_and_subsets():
    (eos,) = build_suite("si-default", ["eos"], {"eos": {"n_points": 5}})
    assert eos.n_points == 5
    # an override of a property the subset leaves out is allowed and unused (the --quick profile)
    (eos,) = build_suite("si-default", ["eos"], {"surface_100": {"vacuum_a": 20.0}})
    assert eos.label == "eos"
    with pytest.raises(InputError, match="suite.overrides"):
        build_suite("si-default", ["eos"], {"no_such_property": {}})
    with pytest.raises(InputError, match="suite.overrides.eos"):
        build_suite("si-default", ["eos"], {"eos": {"n_pointz": 5}})


def test_validation_sets_get_dataset_errors():
    """errors_<name> for the material's validation sets too (Si: the Liu-He-Mo enhanced validation set), under the
    label the shipped thresholds use."""
    labels = {p.label: p for p in build_suite("si-full")}
    assert labels["errors_enhanced_validation"].dataset == "si_enhanced_validation"
    assert "errors_enhanced_validation" in {p.label for p in build_suite("si-quick")}  # quick takes errors_*
    thresholds = load_reference("si-dft").thresholds
    assert {k.split(".")[0] for k in thresholds if k.startswith("errors_")} <= set(labels)


def test_enhanced_validation_errors_with_sw_match_a_direct_computation(sw_calc):
    """Force RMSE of SW on the 50 validation frames, computed here; the file has one config_type for all frames
    (vacancy- and interstitial-migration frames are told apart by atom count and r_migrating only)."""
    from mlipscope.data.dataset import FORCES_KEY
    from mlipscope.data.examples import load_example

    (prop,) = build_suite("si-full", ["errors_enhanced_validation"])
    data = load_example("si_enhanced_validation")
    diffs = []
    for atoms in data:
        work = atoms.copy()
        work.calc = sw_calc
        diffs.append((work.get_forces() - atoms.arrays[FORCES_KEY]).ravel())
    rmse = float(np.sqrt(np.mean(np.concatenate(diffs) ** 2)))
    result = prop.compute(sw_calc)
    assert result.values["force_rmse_ev_a"] == pytest.approx(rmse, rel=1e-9)
    assert result.values["force_rmse_ev_a.enhanced_validation_set"] == result.values["force_rmse_ev_a"]
    assert not any(k.endswith(("vacancy", "interstitial")) for k in result.values)
    migrating = [len(a) for a in data if "r_migrating" in a.arrays]
    assert (migrating.count(63), migrating.count(65), len(data) - len(migrating)) == (11, 19, 20)
