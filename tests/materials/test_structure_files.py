"""Structure files keep their crystal: a CIF or POSCAR of a known prototype is built as that prototype, with the
shipped material's defect, migration, surface and phonon labels; other files stay generic; small defect supercells
warn."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from mlipscope.calculators import make_calculator
from mlipscope.errors import InputError
from mlipscope.materials import load_material
from mlipscope.materials.defects import SmallSupercellWarning, defect_sites
from mlipscope.materials.structure_files import detect_prototype
from mlipscope.properties import registry
from mlipscope.properties.defects import DefectFormationEnergy
from mlipscope.properties.migration import MigrationBarrier
from mlipscope.properties.suite import build_suite

#: the families whose labels come from the crystal alone (no DFT data)
CRYSTAL_FAMILIES = ("defect", "migration", "elastic", "surface_energy", "phonons", "stacking_faults")


def _labels(material) -> dict[str, list[str]]:
    return {name: [e.label for e in registry.family(name).suite_entries(material)] for name in CRYSTAL_FAMILIES}


def _yaml_material(tmp_path, structure_file, name: str, species: list[str], extra: str = ""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nspecies: {species}\nstructure: {{file: {structure_file.name}}}\n{extra}")
    return load_material(path)


def _si_cubic_cif(tmp_path, a: float = 5.431):
    path = tmp_path / "Si.cif"
    write(path, bulk("Si", "diamond", a, cubic=True))
    return path


def _si_primitive_poscar(tmp_path, a: float = 5.431):
    path = tmp_path / "POSCAR"
    write(path, bulk("Si", "diamond", a), format="vasp")
    return path


def test_diamond_cif_and_primitive_poscar_get_the_si_labels(tmp_path):
    si = load_material("si")
    cif, poscar = _si_cubic_cif(tmp_path), _si_primitive_poscar(tmp_path)
    for material in (load_material(cif), load_material(poscar), _yaml_material(tmp_path, cif, "si_cif", ["Si"])):
        assert material.structure.prototype == "diamond"
        assert material.structure.a == pytest.approx(5.431, abs=1e-8)
        # the prototype's 8-atom cubic cell, atom for atom the shipped si cell at the file's a
        assert np.allclose(material.conventional_cell().positions, si.conventional_cell(5.431).positions)
        assert [s.name for s in defect_sites(material)] == ["vacancy", "tetrahedral", "hexagonal", "dumbbell"]
        assert material.migration == ("vacancy", "interstitial")
        labels = _labels(material)
        assert labels == _labels(si)
        assert "vacancy_64" in labels["defect"] and "migration_interstitial" in labels["migration"]


def test_primitive_poscar_lattice_constant_from_its_cell_vectors(tmp_path):
    # an independent route to a: the fcc primitive vectors of diamond are a/sqrt(2) long
    poscar = _si_primitive_poscar(tmp_path, a=5.47)
    from ase.io import read

    a_independent = math.sqrt(2) * float(read(poscar).cell.lengths()[0])
    assert load_material(poscar).structure.a == pytest.approx(a_independent, abs=1e-6)
    assert a_independent == pytest.approx(5.47, abs=1e-9)


def test_fcc_cu_and_rotated_bcc_mo_supercell_get_their_shipped_labels(tmp_path):
    cu_file, mo_file = tmp_path / "Cu.cif", tmp_path / "Mo.vasp"
    write(cu_file, bulk("Cu", "fcc", 3.615))  # primitive, one atom
    mo = bulk("Mo", "bcc", 3.147, cubic=True).repeat(2)
    mo.rotate(30, "z", rotate_cell=True)  # a rotated 16-atom supercell is still bcc
    write(mo_file, mo, format="vasp")
    for path, shipped, prototype, a in ((cu_file, "cu", "fcc", 3.615), (mo_file, "mo", "bcc", 3.147)):
        material = load_material(path)
        assert (material.structure.prototype, material.structure.a) == (prototype, pytest.approx(a, abs=1e-6))
        assert _labels(material) == _labels(load_material(shipped))
        assert material.interstitials == load_material(shipped).interstitials


def test_hcp_without_a_shipped_material_gets_the_prototype_and_60_atoms(tmp_path):
    path = tmp_path / "Mg.cif"
    write(path, bulk("Mg", "hcp", a=3.21, covera=1.624))
    material = load_material(path)
    assert material.structure.prototype == "hcp"
    assert material.structure.a == pytest.approx(3.21, abs=1e-6)
    assert material.structure.c == pytest.approx(3.21 * 1.624, abs=1e-6)
    assert material.interstitials == ("octahedral", "tetrahedral", "basal_split")
    assert material.migration == ("vacancy",)  # hcp defines no interstitial hop
    # 2 atoms per cell: 3^3 -> 54 atoms is too few, 4^3 -> 128 the smallest >= 60
    assert material.supercells == (4,) and material.supercell_size(4) == 128


def test_rocksalt_is_a_prototype_with_one_vacancy_per_sublattice(tmp_path):
    path = tmp_path / "NaCl.cif"
    write(path, bulk("NaCl", "rocksalt", 5.64))
    material = load_material(path)
    assert (material.structure.prototype, material.structure.a) == ("rocksalt", pytest.approx(5.64, abs=1e-6))
    names = [s.name for s in defect_sites(material)]
    assert names[:2] == ["vacancy_Na", "vacancy_Cl"] and "tetrahedral" in names


def test_shipped_inp_structure_file_is_zincblende_with_its_own_defects():
    inp = load_material("inp")
    assert inp.structure.file is not None and inp.structure.prototype == "zincblende"
    assert inp.structure.a == pytest.approx(5.869, abs=1e-6)
    assert inp.interstitials == () and inp.generated_interstitials == {"In": 1, "P": 1}  # its file's defects


def test_distorted_cell_stays_generic(tmp_path):
    strained = bulk("Si", "diamond", 5.431, cubic=True)
    strained.set_cell(strained.cell.array * [1.0, 1.0, 1.05], scale_atoms=True)  # tetragonal: I4_1/amd
    path = tmp_path / "Si_strained.cif"
    write(path, strained)
    material = load_material(path)
    assert material.structure.prototype is None and material.interstitials == ()
    assert len(material.conventional_cell()) == 8 and material.supercells == (2,)  # 64 atoms
    with pytest.raises(InputError) as info:  # no prototype: no named interstitial sites
        _yaml_material(tmp_path, path, "bad", ["Si"], "defects: {interstitials: [tetrahedral]}\n")
    assert info.value.field == "defects.interstitials"


def test_generic_default_supercell_reaches_60_atoms(tmp_path):
    fcc = bulk("Cu", "fcc", 3.615, cubic=True)
    fcc.set_cell(fcc.cell.array * [1.0, 1.0, 1.1], scale_atoms=True)  # tetragonal, 4 atoms
    path = tmp_path / "Cu_tetragonal.cif"
    write(path, fcc)
    material = load_material(path)
    assert material.structure.prototype is None
    assert material.supercells == (3,) and material.supercell_size(3) == 108  # 2^3 * 4 = 32 < 60


def test_detection_follows_the_species():
    mixed = bulk("Si", "diamond", 5.431, cubic=True)
    assert detect_prototype(mixed, ("Si",)).prototype == "diamond"
    mixed.symbols[[0, 2, 4, 6]] = "Ge"  # one fcc sublattice Ge: zincblende SiGe, F-43m
    assert detect_prototype(mixed, ("Ge", "Si")).prototype == "zincblende"
    mixed.symbols[0] = "Si"  # one Ge atom less: no prototype
    assert detect_prototype(mixed, ("Ge", "Si")) is None


def test_file_material_settings_win_over_the_defaults(tmp_path):
    cif = _si_cubic_cif(tmp_path)
    extra = "defects: {supercells: [3], interstitials: [dumbbell]}\nmigration: [vacancy]\n"
    material = _yaml_material(tmp_path, cif, "si_own", ["Si"], extra)
    assert material.supercells == (3,) and material.interstitials == ("dumbbell",)
    assert material.migration == ("vacancy",) and material.surfaces == load_material("si").surfaces


def test_structure_file_material_pickles_as_its_file(tmp_path):
    material = load_material(_si_primitive_poscar(tmp_path))
    assert pickle.loads(pickle.dumps(material)) == material


def test_small_defect_supercell_warns(tmp_path):
    cu = load_material("cu")
    with pytest.warns(SmallSupercellWarning, match=r"cu: the vacancy supercell of 32 atoms .* use 108 atoms"):
        DefectFormationEnergy(material=cu, defect="vacancy", size=32)
    si_cif = load_material(_si_cubic_cif(tmp_path))
    with pytest.warns(SmallSupercellWarning, match="8 atoms"):
        MigrationBarrier(material=si_cif, defect="vacancy", size=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSupercellWarning)
        DefectFormationEnergy(material=cu, defect="vacancy", size=108)
        DefectFormationEnergy(material="mo", defect="vacancy")  # the shipped 54-atom bcc cell
        for name in ("si", "ge", "mo", "li", "cu", "ni", "inp"):  # no shipped material's suite warns
            assert build_suite(f"{name}-full")


def test_sw_vacancy_from_a_cif_equals_the_shipped_si(tmp_path):
    calc = make_calculator("sw")

    def vacancy_ev(material) -> float:
        return DefectFormationEnergy(material=material, defect="vacancy").compute(calc).values["formation_energy_ev"]

    shipped = vacancy_ev(load_material("si"))
    assert shipped == pytest.approx(2.835, abs=0.01)  # SW, 63-atom cell, the reconstructed vacancy
    (tmp_path / "cubic").mkdir()
    (tmp_path / "primitive").mkdir()
    # the shipped starting lattice constant (5.43 Å): the same relaxation, the same energy
    assert vacancy_ev(load_material(_si_cubic_cif(tmp_path / "cubic", a=5.43))) == pytest.approx(shipped, abs=1e-6)
    assert vacancy_ev(load_material(_si_primitive_poscar(tmp_path / "primitive", a=5.43))) == pytest.approx(
        shipped, abs=1e-6
    )
    # from 5.431 Å the bulk relaxation (fmax 1e-4 eV/Å) ends 2e-7 Å away: agreement to its tolerance
    assert vacancy_ev(load_material(_si_cubic_cif(tmp_path, a=5.431))) == pytest.approx(shipped, abs=1e-4)
