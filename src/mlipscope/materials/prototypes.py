"""Crystal prototypes: how to build the conventional cell, and the standard point defects of each structure.

A prototype is data: the ASE ``bulk`` crystal name, the atoms of the conventional cell, the nearest-neighbour
vacancy hop and the standard interstitial sites, all in fractional coordinates of the conventional cell with the
defect's host atom at the origin. Interstitials are either an extra atom at ``site`` or a split dumbbell: the host
atom at the origin replaced by two atoms at ±(separation/2) along ``direction``.

Sites (conventional cell of side a; hcp: a, c):

- diamond: tetrahedral (1/2,1/2,1/2), hexagonal (5/8,5/8,5/8) (centre of a six-ring), ⟨110⟩ split;
- zincblende (cation at the origin): the same sites as diamond, cation and anion interstitials;
- rocksalt: tetrahedral (1/4,1/4,1/4);
- fcc: octahedral (1/2,1/2,1/2), tetrahedral (1/4,1/4,1/4), ⟨100⟩ split;
- bcc: octahedral (1/2,1/2,0), tetrahedral (1/2,1/4,0), ⟨110⟩ and ⟨111⟩ split (crowdion-like);
- hcp (ASE's cell: atoms at (0,0,0), (1/3,2/3,1/2)): octahedral (2/3,1/3,1/4), tetrahedral (0,0,3/8), basal split
  along a1.

Dumbbell separations are fractions of the nearest-neighbour distance (the relaxation finds the real one); the
diamond one is the bond length (0.44 a), where the relaxed SW/DFT dumbbells are 2.3–2.5 Å long.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mlipscope.errors import InputError


@dataclass(frozen=True)
class InterstitialSite:
    """One standard interstitial: an extra atom at ``site`` or a split dumbbell along ``direction``."""

    name: str
    site: tuple[float, float, float] | None = None
    direction: tuple[float, float, float] | None = None
    separation_nn: float = 1.0  # dumbbell separation as a fraction of the nearest-neighbour distance

    @property
    def is_dumbbell(self) -> bool:
        return self.direction is not None


@dataclass(frozen=True)
class Prototype:
    name: str
    ase_crystal: str  # crystalstructure argument of ase.build.bulk
    n_species: int  # 1 for elements, 2 for binary compounds
    atoms_per_cell: int  # atoms in the (cubic where possible) conventional cell
    cubic: bool
    #: nearest-neighbour distance in units of a
    nn_fraction: float
    #: coordination of an atom in the perfect crystal
    coordination: int
    #: fractional vector of the vacancy hop: the neighbour at this offset from the vacancy jumps into it
    vacancy_hop: tuple[float, float, float]
    interstitials: tuple[InterstitialSite, ...] = field(default_factory=tuple)
    #: interstitial migration: (site name, fractional hop vector to the equivalent neighbouring site)
    interstitial_hop: tuple[str, tuple[float, float, float]] | None = None
    #: default c/a (hcp only)
    covera: float | None = None
    #: phonon values carry the mode names of the seed study's Si reference (gamma_lto, x_la_lo, ...; X and L only)
    seed_phonon_names: bool = False

    def interstitial(self, name: str) -> InterstitialSite:
        for site in self.interstitials:
            if site.name == name:
                return site
        raise InputError(
            None, "defects", f"an interstitial of {self.name}: {[s.name for s in self.interstitials]}", got=name
        )


_DIAMOND_SITES = (
    InterstitialSite("tetrahedral", site=(0.5, 0.5, 0.5)),
    InterstitialSite("hexagonal", site=(0.625, 0.625, 0.625)),
    InterstitialSite("dumbbell", direction=(1.0, 1.0, 0.0), separation_nn=0.44 / (math.sqrt(3) / 4)),
)

PROTOTYPES: dict[str, Prototype] = {
    "diamond": Prototype(
        "diamond",
        "diamond",
        1,
        8,
        True,
        math.sqrt(3) / 4,
        4,
        (0.25, 0.25, 0.25),
        _DIAMOND_SITES,
        ("tetrahedral", (0.25, 0.25, 0.25)),
        seed_phonon_names=True,
    ),
    "zincblende": Prototype(
        "zincblende",
        "zincblende",
        2,
        8,
        True,
        math.sqrt(3) / 4,
        4,
        (0.5, 0.5, 0.0),  # same-sublattice hop (a wrong-sublattice jump would make an antisite)
        _DIAMOND_SITES,
        None,
    ),
    "rocksalt": Prototype(
        "rocksalt", "rocksalt", 2, 8, True, 0.5, 6, (0.5, 0.5, 0.0), (InterstitialSite("tetrahedral", (0.25,) * 3),)
    ),
    "fcc": Prototype(
        "fcc",
        "fcc",
        1,
        4,
        True,
        1 / math.sqrt(2),
        12,
        (0.5, 0.5, 0.0),
        (
            InterstitialSite("octahedral", site=(0.5, 0.5, 0.5)),
            InterstitialSite("tetrahedral", site=(0.25, 0.25, 0.25)),
            InterstitialSite("dumbbell_100", direction=(1.0, 0.0, 0.0), separation_nn=0.85),
        ),
        ("octahedral", (0.5, 0.0, 0.0)),
    ),
    "bcc": Prototype(
        "bcc",
        "bcc",
        1,
        2,
        True,
        math.sqrt(3) / 2,
        8,
        (0.5, 0.5, 0.5),
        (
            InterstitialSite("octahedral", site=(0.5, 0.5, 0.0)),
            InterstitialSite("tetrahedral", site=(0.5, 0.25, 0.0)),
            InterstitialSite("dumbbell_110", direction=(1.0, 1.0, 0.0), separation_nn=0.8),
            InterstitialSite("dumbbell_111", direction=(1.0, 1.0, 1.0), separation_nn=0.8),
        ),
        None,
    ),
    "sc": Prototype("sc", "sc", 1, 1, True, 1.0, 6, (1.0, 0.0, 0.0), (InterstitialSite("cube_centre", (0.5,) * 3),)),
    "hcp": Prototype(
        "hcp",
        "hcp",
        1,
        2,
        False,
        1.0,
        12,
        (1.0, 0.0, 0.0),
        (
            InterstitialSite("octahedral", site=(2 / 3, 1 / 3, 0.25)),
            InterstitialSite("tetrahedral", site=(0.0, 0.0, 0.375)),
            InterstitialSite("basal_split", direction=(1.0, 0.0, 0.0), separation_nn=0.8),
        ),
        None,
        covera=math.sqrt(8 / 3),
    ),
}


def get_prototype(name: str, source: object = None) -> Prototype:
    if name not in PROTOTYPES:
        raise InputError(source, "structure.prototype", f"one of {sorted(PROTOTYPES)}", got=name)
    return PROTOTYPES[name]


#: Slip systems of the stacking-fault property (:mod:`mlipscope.properties.stacking_faults`):
#: - diamond {111} shuffle set: the fault between widely spaced layers, along a/2<110> (a full lattice vector);
#: - diamond {111} glide set: between narrowly spaced layers, along a/6<112> (the Shockley partial);
#: - fcc {111}<112>: along a/6<112>; bcc {110}<111>: along a/2<111>.
#: prototype -> slip systems: name -> (lattice builder: the name of a class of :mod:`ase.lattice.cubic`, (x, y, z)
#: directions, fault gap ("wide", "narrow" or "any"), the path vector in units of the lattice constant along x or y
#: (axis, length / a)). Names, not classes: ``ase.lattice`` loads scipy, and listing a suite imports this module.
SLIP_SYSTEMS: dict[str, dict[str, tuple[str, tuple, str, tuple[int, float]]]] = {
    "diamond": {
        "shuffle": ("Diamond", ([1, -1, 0], [1, 1, -2], [1, 1, 1]), "wide", (0, math.sqrt(2) / 2)),
        "glide": ("Diamond", ([1, -1, 0], [1, 1, -2], [1, 1, 1]), "narrow", (1, math.sqrt(6) / 6)),
    },
    "fcc": {"": ("FaceCenteredCubic", ([1, -1, 0], [1, 1, -2], [1, 1, 1]), "any", (1, math.sqrt(6) / 6))},
    "bcc": {"": ("BodyCenteredCubic", ([1, 1, 1], [1, 1, -2], [-1, 1, 0]), "any", (0, math.sqrt(3) / 2))},
}
