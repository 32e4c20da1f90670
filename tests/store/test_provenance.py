"""Deterministic model ids, recorded software versions and strict JSON encoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlipscope.store.provenance import model_id_for, software_versions, to_json


def test_model_id_is_deterministic():
    hp = {"twojmax": 6, "rcut": 4.7}
    a = model_id_for("snap", hp, 1, "abc")
    assert a == model_id_for("snap", {"rcut": 4.7, "twojmax": 6}, 1, "abc")  # key order does not matter
    assert a == model_id_for("snap", {"twojmax": np.int64(6), "rcut": np.float64(4.7)}, 1, "abc")
    assert a.startswith("snap-") and len(a) == len("snap-") + 12
    others = {
        model_id_for("snap", hp, 2, "abc"),
        model_id_for("snap", {**hp, "rcut": 4.8}, 1, "abc"),
        model_id_for("snap", hp, 1, "abd"),
        model_id_for("pod", hp, 1, "abc"),
    }
    assert a not in others and len(others) == 4


def test_software_versions():
    import ase
    import duckdb

    versions = software_versions()
    assert versions["ase"] == ase.__version__ and versions["numpy"] == np.__version__
    assert versions["duckdb"] == duckdb.__version__ and versions["python"].count(".") == 2


def test_to_json_is_strict():
    text = to_json({"a": np.float64("nan"), "b": np.arange(3), "c": (1.5, float("inf")), "p": Path("/x")})
    assert json.loads(text) == {"a": None, "b": [0, 1, 2], "c": [1.5, None], "p": "/x"}
