"""Variants of a shipped material file: each is one InputError naming the file and the field, never another exception
and never a silent misread (issue 21: e.g. ``vacancy: "no"`` was read as true, ``phonons: [perfect]`` crashed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlipscope.errors import InputError
from mlipscope.materials import load_material, shipped_dir

SI = yaml.safe_load((shipped_dir() / "si.yaml").read_text())
DELETE = object()


def _variant(changes: dict[str, Any]) -> dict[str, Any]:
    """si.yaml with ``changes`` applied: dotted key -> new value (DELETE removes the key)."""
    doc = yaml.safe_load(yaml.safe_dump(SI))  # a deep copy
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        table = doc
        for key in parents:
            table = table.setdefault(key, {})
        if value is DELETE:
            table.pop(last, None)
        else:
            table[last] = value
    return doc


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


VARIANTS = [  # (changes, the field the error names)
    ({"defects.supercells": "three"}, "defects.supercells"),
    ({"defects.supercells": [0]}, "defects.supercells[0]"),
    ({"defects.supercells": [2.5]}, "defects.supercells[0]"),
    ({"defects.vacancy": "no"}, "defects.vacancy"),
    ({"defects.vacancy": 1}, "defects.vacancy"),
    ({"defects": "yes"}, "defects"),
    ({"defects.interstitials": "tetrahedral"}, "defects.interstitials"),
    ({"defects.interstitials": ["octahedral"]}, "defects.interstitials"),
    ({"defects.elastic": ["split_vacancy"]}, "defects.elastic"),
    ({"defects.generated_interstitials": {"Si": 0}}, "defects.generated_interstitials.Si"),
    ({"defects.generated_interstitials": {"Ge": 2}}, "defects.generated_interstitials"),
    ({"defects.vacancies": True}, "defects.vacancies"),
    ({"phonons": ["perfect"]}, "phonons"),
    ({"phonons": {"cells": ["interstitial"]}}, "phonons.cells[0]"),
    ({"phonons": {"cell": ["perfect"]}}, "phonons.cell"),
    ({"surfaces": "100"}, "surfaces"),
    ({"surfaces": [[1, 0]]}, "surfaces[0]"),
    ({"surfaces": [[0, 0, 0]]}, "surfaces[0]"),
    ({"surfaces": [[1, "a", 0]]}, "surfaces[0][1]"),
    ({"migration": "vacancy"}, "migration"),
    ({"migration": ["divacancy"]}, "migration"),
    ({"species": "Si"}, "species"),
    ({"species": []}, "species"),
    ({"species": ["Xx"]}, "species"),
    ({"name": "si x"}, "name"),
    ({"name": 3}, "name"),
    ({"name": DELETE}, "name"),
    ({"structure": "diamond"}, "structure"),
    ({"structure": {"prototype": "diamond", "a": "5.43"}}, "structure.a"),
    ({"structure": {"prototype": "diamond", "a": -1}}, "structure.a"),
    ({"structure": {"prototype": "diamond", "a": True}}, "structure.a"),
    ({"structure": {"prototype": "diamond", "a": 5.43, "covera": 1.6}}, "structure.covera"),
    ({"structure": {"prototype": "diamond"}}, "structure.a"),
    ({"datasets.train": {"x": "si_original_train"}}, "datasets.train"),
    ({"datasets.training": ["si_original_train"]}, "datasets.training"),
    ({"ranking.stacking_faults.config_types": "SF"}, "ranking.stacking_faults.config_types"),
    ({"ranking.stacking_faults.dataset": DELETE}, "ranking.stacking_faults.dataset"),
    ({"ranking": ["stacking_faults"]}, "ranking"),
    ({"suites": {"quick": "eos"}}, "suites.quick"),
    ({"md": [1000, 1200]}, "md"),
    ({"liquid": "castep"}, "liquid"),
    ({"chemical_potentials": {"Ge": {"ase_reference": True}}}, "chemical_potentials.Ge"),
    ({"chemical_potentials": {"Si": {"ase_reference": "yes"}}}, "chemical_potentials.Si.ase_reference"),
    ({"reference": "missing_dft.yaml"}, "reference"),
    ({"descripton": "typo"}, "descripton"),
    ({"description": {"text": "x"}}, "description"),
]


@pytest.mark.parametrize(("changes", "field"), VARIANTS, ids=[field for _, field in VARIANTS])
def test_variant_is_one_input_error_naming_file_and_field(tmp_path, changes, field):
    path = _write(tmp_path, _variant(changes))
    with pytest.raises(InputError) as info:  # any other exception fails the test
        load_material(path)
    assert info.value.field == field
    assert str(path) in str(info.value)


@pytest.mark.parametrize("contents", ["[1, 2]\n", "just text\n", "42\n"])
def test_file_that_is_no_mapping(tmp_path, contents):
    path = tmp_path / "variant.yaml"
    path.write_text(contents)
    with pytest.raises(InputError, match="file contents.*a mapping of material settings"):
        load_material(path)


def test_unknown_key_suggests_the_near_one(tmp_path):
    with pytest.raises(InputError, match="did you mean 'description'"):
        load_material(_write(tmp_path, _variant({"descripton": "typo"})))


def test_booleans_are_read_as_written(tmp_path):
    """``vacancy: false`` turns the vacancy off; only YAML booleans are booleans."""
    material = load_material(_write(tmp_path, _variant({"defects.vacancy": False, "defects.elastic": []})))
    assert material.vacancy is False
    assert load_material(_write(tmp_path, _variant({}))).vacancy is True


def test_empty_optional_tables_are_left_out(tmp_path):
    doc = _variant({"defects": None, "phonons": None, "ranking": None, "suites": None, "md": None})
    material = load_material(_write(tmp_path, doc))
    assert material.supercells == (2,) and material.phonon_cells == ("perfect",) and material.ranking_sets == {}
