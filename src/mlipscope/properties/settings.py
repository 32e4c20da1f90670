"""Settings shared by the properties that relax structures or run molecular dynamics, as frozen dataclasses.

A property keeps its flat keyword arguments (``fmax``, ``max_steps``, ``timestep_fs``, ...): they are its public
configuration and, through :meth:`~mlipscope.properties.base.Property.config`, part of its stored evaluation keys.
It builds one of these objects from them (``relaxation()``, ``md_settings()``) and hands that to the shared code
(:func:`~mlipscope.properties.structures.relax_with`, :meth:`~mlipscope.properties.context.MaterialContext`'s
shared structures, :func:`~mlipscope.properties.md.md_engine`), which validates it once and keys shared results
by it. Light on purpose (no ASE optimiser or MD import): suites are listed without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlipscope.errors import InputError

#: optimisers :func:`~mlipscope.properties.structures.relax` knows (ASE classes of the same names)
OPTIMIZER_NAMES = ("FIRE", "BFGS", "LBFGS")
#: MD engines: "auto" takes LAMMPS when the model has pair commands, else ASE
MD_ENGINES = ("auto", "lammps", "ase")


@dataclass(frozen=True)
class RelaxationSettings:
    """How a structure is relaxed; a shared relaxed structure's key holds these besides its start.

    ``fmax`` (eV/Å) and ``max_steps`` of ``optimizer``; ``relax_cell`` relaxes the cell too (zero pressure),
    ``hydrostatic`` then keeps its shape (volume only); ``fix_symmetry_symprec`` (Å) keeps the start's space group
    (:class:`ase.constraints.FixSymmetry`) during the relaxation. ``hydrostatic`` is dropped for a fixed cell,
    where it changes nothing, so equal relaxations get equal keys.
    """

    fmax: float = 1e-3
    max_steps: int = 1000
    optimizer: str = "BFGS"
    relax_cell: bool = False
    hydrostatic: bool = False
    fix_symmetry_symprec: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZER_NAMES:
            raise InputError(None, "optimizer", f"one of {list(OPTIMIZER_NAMES)}", got=self.optimizer)
        object.__setattr__(self, "fmax", float(self.fmax))
        object.__setattr__(self, "max_steps", int(self.max_steps))
        if not self.relax_cell:
            object.__setattr__(self, "hydrostatic", False)

    def as_dict(self) -> dict[str, Any]:
        """The settings as stored in a shared structure's key and provenance (fixed key order)."""
        return {
            "fmax": self.fmax,
            "max_steps": self.max_steps,
            "optimizer": self.optimizer,
            "relax_cell": self.relax_cell,
            "hydrostatic": self.hydrostatic,
            "fix_symmetry_symprec": self.fix_symmetry_symprec,
        }


@dataclass(frozen=True)
class MDSettings:
    """How NVT molecular dynamics runs, for every run of a property (temperatures, durations and per-run seeds are
    the property's own).

    ``timestep_fs``; positions sampled every ``sample_every_fs``; ``seed``: the property's base seed of the
    velocity draws. ``engine``: one of :data:`MD_ENGINES`; ``lammps_commands``/``elements``: LAMMPS pair commands
    and element order (without them a LAMMPSlib calculator's own are used). The thermostat: ASE Langevin with
    ``friction_per_fs`` (0.01/fs, a 100 fs relaxation: thermalises without slowing diffusion noticeably), LAMMPS
    Nose-Hoover damped over ``damping_steps`` time steps (the LAMMPS manual's advice).
    """

    timestep_fs: float = 1.0
    sample_every_fs: float = 50.0
    seed: int = 0
    engine: str = "auto"
    lammps_commands: tuple[str, ...] | None = None
    elements: tuple[str, ...] | None = None
    friction_per_fs: float = 0.01
    damping_steps: int = 100

    def __post_init__(self) -> None:
        if self.engine not in MD_ENGINES:
            raise InputError(None, "engine", "one of 'auto', 'lammps', 'ase'", got=self.engine)
        if not self.timestep_fs > 0 or not self.sample_every_fs > 0:
            raise InputError(None, "timestep_fs/sample_every_fs", "positive numbers")
        for name in ("lammps_commands", "elements"):  # lists from a config file: hashable and unchangeable
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(value) if value else None)
