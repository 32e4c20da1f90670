"""Conformance tests shipped with mlipscope (they need pytest): subclass them in a test module to check a new MLIP
family (:class:`FamilyConformance`), property (:class:`PropertyConformance`) or results store backend
(:class:`StoreConformance`) against what the runner relies on.
"""

from mlipscope.testing.family import (
    FamilyConformance,
    assert_samples_valid,
    assert_space_valid,
    probe_structure,
    small_training_set,
)
from mlipscope.testing.property import PropertyConformance, check_property
from mlipscope.testing.store import StoreConformance

__all__ = [
    "FamilyConformance",
    "PropertyConformance",
    "StoreConformance",
    "assert_samples_valid",
    "assert_space_valid",
    "check_property",
    "probe_structure",
    "small_training_set",
]
