"""The shipped reference files: each loads for its material with every label checked, and giving shared values once
(``same_as``) left every resolved value and threshold as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlipscope.errors import InputError
from mlipscope.materials import load_material, reference_dir, shipped_material_names
from mlipscope.properties.references import TabulatedReference
from mlipscope.runner.references import load_reference

#: the resolved numbers of every shipped file before ``same_as`` (made from the files of commit 4ceb90c)
BEFORE = json.loads((Path(__file__).parents[1] / "properties" / "data" / "reference_values_before.json").read_text())


@pytest.mark.parametrize("name", shipped_material_names())
def test_every_shipped_reference_loads_for_its_material_with_the_same_numbers(name):
    material = load_material(name)
    reference = load_reference("material", name)  # every label checked against the material's suite
    assert isinstance(reference, TabulatedReference)
    before = BEFORE[Path(material.reference).name]
    assert {k: v for k, (v, _) in reference.values.items()} == before["values"]
    assert {k: v for k, (v, _) in reference.thresholds.items()} == before["thresholds"]


@pytest.mark.parametrize("name", ["si", "ge", "mo", "cu", "ni", "li"])
def test_the_lattice_constant_is_given_once(name):
    path = reference_dir() / f"{name}_dft.yaml"
    text = path.read_text()
    reference = load_reference(f"{name}-dft", name)
    a0 = reference.values["eos.lattice_constant_a"]
    assert reference.values["elastic_perfect.lattice_constant_a"] == a0  # value and source
    assert text.count(f"value: {BEFORE[path.name]['values']['eos.lattice_constant_a']}") == 1
    assert "elastic_perfect.lattice_constant_a: {same_as: eos.lattice_constant_a}" in text


def test_a_shipped_reference_loads_for_another_material_and_a_typo_does_not(tmp_path):
    assert load_reference("si-dft", "ge") is not None  # si's labels are known: the file is si's
    path = tmp_path / "ref.yaml"
    path.write_text("values:\n  eos.lattice_constant_a: 5.78\n  elastic_perfect.c44: 50\n  elastic_perfet.c11_gpa: 1\n")
    with pytest.raises(
        InputError, match=r"ref.yaml: field 'values.elastic_perfet.c11_gpa'.*did you mean 'elastic_perf"
    ):
        load_reference(str(path), "ge")
    assert load_reference(str(path)) is not None  # no material named: the labels could be any material's
