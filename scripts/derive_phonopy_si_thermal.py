"""Derive the DFT harmonic thermodynamics of diamond Si from phonopy's own Si example (VASP PBE forces).

Usage:
    python scripts/derive_phonopy_si_thermal.py [--vasprun PATH] [--temperature 300] [--mesh 16]

Input: ``src/mlipscope/package_data/reference/phonopy_si_example/`` (see its README.md): ``POSCAR-unitcell`` and
``phonopy_disp.yaml`` of phonopy's ``example/Si`` (github.com/phonopy/phonopy, BSD-3-Clause) and ``FORCE_SETS``,
the forces of its one displaced 2x2x2 supercell of the primitive cell (16 atoms) that the example's ``vasprun.xml``
holds (VASP 4.6.35, PAW_PBE Si, 300 eV, 4x4x4 k-points, a = 5.4662 Å). ``--vasprun`` rewrites ``FORCE_SETS`` from
that file with phonopy's VASP reader (what ``phonopy-init -f vasprun.xml`` does) before deriving.

Method: force constants by phonopy from those forces; thermal properties with the function the ``Phonons``
property uses (:func:`mlipscope.properties.phonons.thermal_per_atom`: Γ-centred mesh, Γ acoustic modes excluded,
per mole of atoms) at the property's default temperature (300 K) and mesh (16³), so the values are the same
quantity a model's ``phonons_perfect`` reports. Also printed: the same at a 31³ and 48³ mesh (convergence) and the
Γ/X/L frequencies next to the CASTEP PW91 references of ``si_dft.yaml`` (a sanity check of the force constants).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import phonopy
import yaml
from phonopy import Phonopy

from mlipscope.properties.phonons import high_symmetry_frequencies, thermal_per_atom

REFERENCE = Path(__file__).resolve().parents[1] / "src" / "mlipscope" / "package_data" / "reference"
EXAMPLE_DIR = REFERENCE / "phonopy_si_example"
LABEL = "phonons_perfect"


def write_force_sets(example_dir: Path, vasprun: Path) -> None:
    """FORCE_SETS from the displacement dataset of phonopy_disp.yaml and the forces of ``vasprun``."""
    from phonopy.file_IO import write_FORCE_SETS
    from phonopy.interface.calculator import get_calc_dataset

    phonon = phonopy.load(example_dir / "phonopy_disp.yaml", produce_fc=False, log_level=0)
    dataset = phonon.dataset
    forces = get_calc_dataset("vasp", len(phonon.supercell), [vasprun], verbose=False)["forces"]
    for displacement, force in zip(dataset["first_atoms"], forces, strict=True):
        displacement["forces"] = force
    write_FORCE_SETS(dataset, filename=str(example_dir / "FORCE_SETS"))


def load_example(example_dir: Path = EXAMPLE_DIR) -> Phonopy:
    """The Phonopy object of the example with its DFT force constants."""
    return phonopy.load(
        example_dir / "phonopy_disp.yaml",
        force_sets_filename=example_dir / "FORCE_SETS",
        produce_fc=True,
        log_level=0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vasprun", type=Path, help="phonopy's example/Si/vasprun.xml: rewrite FORCE_SETS from it")
    parser.add_argument("--temperature", type=float, default=300.0, help="K (default: the property's 300 K)")
    parser.add_argument("--mesh", type=int, default=16, help="q-mesh per axis (default: the property's 16)")
    args = parser.parse_args()
    if args.vasprun:
        write_force_sets(EXAMPLE_DIR, args.vasprun)
    phonon = load_example()
    thermo = thermal_per_atom(phonon, (args.mesh,) * 3, args.temperature)
    for mesh in (31, 48):
        converged = thermal_per_atom(phonon, (mesh,) * 3, args.temperature)
        print(f"# mesh {mesh}^3: " + ", ".join(f"{k} {v:.5f}" for k, v in converged.items()))
    castep = yaml.safe_load((REFERENCE / "si_dft.yaml").read_text())["values"]
    print("# frequencies (THz): phonopy example (VASP PBE) vs si_dft.yaml (CASTEP PW91)")
    for key, value in high_symmetry_frequencies(phonon, diamond_names=True).items():
        ref = castep.get(f"{LABEL}.{key}", {}).get("value")
        print(f"#   {key:28s} {value:8.3f}" + (f"  {ref:8.3f}  diff {value - ref:+.3f}" if ref is not None else ""))
    print(f"# {LABEL} at {args.temperature:g} K, mesh {args.mesh}^3 (si_dft.yaml values:)")
    for key, digits in (("free_energy_ev_atom", 5), ("entropy_j_k_mol", 3), ("heat_capacity_j_k_mol", 3)):
        print(f"  {LABEL}.{key}: {{value: {round(thermo[key], digits)}}}")


if __name__ == "__main__":
    main()
