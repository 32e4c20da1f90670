import pickle

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
