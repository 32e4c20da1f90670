"""Conformance tests shipped with mlipscope (they need pytest): subclass them in a test module to check a new MLIP
family (:class:`FamilyConformance`) or property (:class:`PropertyConformance`) against what the runner relies on.
"""

from mlipscope.testing.family import (
    FamilyConformance,
    assert_samples_valid,
    assert_space_valid,
    probe_structure,
    small_training_set,
)
from mlipscope.testing.property import PropertyConformance

__all__ = [
    "FamilyConformance",
    "PropertyConformance",
    "assert_samples_valid",
    "assert_space_valid",
    "probe_structure",
    "small_training_set",
]
