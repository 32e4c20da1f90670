"""Material files: a new material is one YAML file, bad files give clear errors, species are checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlipscope.cli import main
from mlipscope.errors import InputError
from mlipscope.materials import load_material, material_from_dict, shipped_material_names
from mlipscope.materials.prototypes import PROTOTYPES
from mlipscope.properties.suite import build_suite

USER_MATERIAL = """
name: inp_prototype
description: InP from the zincblende prototype (a user's material file)
species: [In, P]
structure: {prototype: zincblende, a: 5.87}
defects: {supercells: [2], vacancy: true}
surfaces: [[1, 1, 0]]
"""


def test_shipped_materials_load_and_build_their_suites():
    assert set(shipped_material_names()) >= {"si", "ge", "mo", "li", "cu", "ni", "inp"}
    for name in shipped_material_names():
        assert load_material(name).name == name
        for kind in ("default", "quick", "dynamics", "full"):
            props = build_suite(f"{name}-{kind}")
            assert all(p.material.name == name for p in props)
            assert len({p.label for p in props}) == len(props)


def test_a_new_material_is_one_data_file(tmp_path, capsys):
    path = tmp_path / "inp_prototype.yaml"
    path.write_text(USER_MATERIAL)
    db = tmp_path / "r.duckdb"
    args = ["benchmark", "--material", str(path), "--calculator", "inp-snap", "--reference", "none", "--db", str(db)]
    assert main([*args, "--properties", "eos", "vacancy_In_64", "vacancy_P_64", "--json"]) == 0
    rows = {r["name"]: r["value"] for r in json.loads(capsys.readouterr().out)["results"]}
    # the same crystal as the shipped structure-file material (inp), relaxed by the same potential
    shipped = load_material("inp")
    assert shipped.structure.file is not None and load_material(path).structure.prototype == "zincblende"
    assert rows["eos.lattice_constant_a"] == pytest.approx(5.8293, abs=2e-3)  # independent LAMMPS: 5.82928 Å
    assert rows["vacancy_In_64.formation_energy_ev"] > 0 and rows["vacancy_P_64.formation_energy_ev"] > 0


def test_species_mismatch_is_refused_before_any_work(tmp_path, capsys):
    db = tmp_path / "r.duckdb"
    assert main(["benchmark", "--material", "mo", "--calculator", "sw", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "material 'mo' ['Mo']" in err and "model 'sw' knows ['Si']" in err
    assert not db.exists()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("name: x\nspecies: [Mo]\nstructure: {prototype: bcc, a: 3.1}\ncolour: red\n", "colour"),
        ("name: x\nspecies: [Mo]\nstructure: {prototype: hexagonal_ice, a: 3.1}\n", "structure.prototype"),
        ("name: x\nspecies: [Mo]\nstructure: {prototype: bcc}\n", "structure.a"),
        ("name: x\nspecies: [Mo, W]\nstructure: {prototype: bcc, a: 3.1}\n", "species"),
        ("name: x\nspecies: [Mo]\nstructure: {prototype: bcc, a: 3.1}\ndefects: {interstitials: [hexagonal]}\n",
         "defects.interstitials"),
        ("name: x\nspecies: [Mo]\nstructure: {file: missing.cif}\n", "structure.file"),
        ("name: x\nspecies: [Mo]\nstructure: {prototype: bcc, a: 3.1}\nranking: {faults: {config_types: [SF]}}\n",
         "ranking.faults.dataset"),
        ("name: x\nspecies: [Mo]\nstructure: {prototype: bcc, a: 3.1}\nranking: {faults: {dataset: f.xyz, "
         "tie_tolerance_mev_atom: -1}}\n", "ranking.faults.tie_tolerance_mev_atom"),
        ("name: x\nspecies: [Mo]\nstructure: {prototype: bcc, a: 3.1}\nranking: {Faults: {dataset: f.xyz}}\n",
         "ranking.Faults"),
    ],
)  # fmt: skip
def test_bad_material_file_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_material(path)
    assert info.value.field == field and str(path) in str(info.value)


def test_materials_command_lists_the_shipped_materials(capsys):
    assert main(["materials"]) == 0
    out = capsys.readouterr().out
    for name in ("si", "ge", "mo", "li", "cu", "ni", "inp"):
        assert any(line.split()[0] == name for line in out.splitlines())


def test_material_pickles_as_its_file():
    import pickle

    material = load_material("mo")
    blob = pickle.dumps(material)
    assert len(blob) < 300 and pickle.loads(blob) == material
    assert np.isclose(material.nearest_neighbour_distance(), 3.16 * np.sqrt(3) / 2)


@pytest.mark.parametrize("prototype", sorted(PROTOTYPES))
def test_atoms_per_cell_is_what_the_conventional_cell_holds(prototype):
    # the count comes from the prototype's table (no cell built); the cell itself is ASE's
    from ase.build import bulk

    proto = PROTOTYPES[prototype]
    species = ["In", "P"] if proto.n_species == 2 else ["Si"]
    crystal = {"prototype": prototype, "a": 4.0, **({"c": 6.5} if prototype == "hcp" else {})}
    material = material_from_dict({"name": "x", "species": species, "structure": crystal}, None)
    symbol = "".join(species)
    if prototype == "hcp":
        expected = len(bulk(symbol, "hcp", a=4.0, c=6.5))
    else:
        expected = len(bulk(symbol, proto.ase_crystal, a=4.0, cubic=proto.cubic))
    assert material.atoms_per_cell == expected == len(material.conventional_cell())
