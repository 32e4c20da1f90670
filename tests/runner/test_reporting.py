"""The analysis table's MLIP types: a family's variants (DeePMD's descriptors) are types of their own."""

from __future__ import annotations

import pandas as pd

from mlipscope.models.registry import get_family
from mlipscope.runner.reporting import with_mlip_types


def test_deepmd_descriptors_are_two_types_and_other_families_keep_their_name():
    models = pd.DataFrame(
        {
            "model_id": ["d2", "d3", "dd", "s"],
            "family": ["deepmd", "deepmd", "deepmd", "snap"],
            "hyperparameters": [
                {"descriptor": "se_e2_a", "sel": 60},  # the store hands decoded JSON back (ResultStore.models)
                {"descriptor": "se_e3", "sel": 24},
                {},  # a stored model from before the descriptor was sampled: the family default
                {"twojmax": 6},
            ],
        }
    )
    table = pd.DataFrame(
        {"family": models["family"].to_numpy(), "eos.b0_gpa": [1.0, 2.0, 3.0, 4.0]}, index=models["model_id"]
    )
    typed = with_mlip_types(table, models)
    assert typed["family"].tolist() == ["deepmd-se_e2_a", "deepmd-se_e3", "deepmd-se_e2_a", "snap"]
    assert table["family"].tolist() == ["deepmd", "deepmd", "deepmd", "snap"]  # the input is not changed
    assert typed["eos.b0_gpa"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_type_name_of_a_family_without_variants_is_its_name():
    assert get_family("gap").type_name({"soap_n_max": 4}) == "gap"
    assert get_family("deepmd").type_name({"descriptor": "se_e3"}) == "deepmd-se_e3"
