"""A labelled dataset: ASE Atoms with DFT energy, forces and stress stored under fixed keys.

Labels are kept in ``atoms.info`` / ``atoms.arrays`` (not in a calculator) so that attaching a model calculator to a
frame never hides the DFT values:

- ``atoms.info[ENERGY_KEY]``: total energy, eV
- ``atoms.arrays[FORCES_KEY]``: forces, eV/Å, shape (n_atoms, 3)
- ``atoms.info[STRESS_KEY]``: stress, eV/Å³, Voigt order (xx, yy, zz, yz, xz, xy), tension positive (optional)
- ``atoms.info["config_type"]``, ``atoms.info["source"]``: strings
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

ENERGY_KEY = "dft_energy"
FORCES_KEY = "dft_forces"
STRESS_KEY = "dft_stress"


@dataclass
class Dataset:
    """An ordered list of labelled frames with a name and (optionally) the file it came from."""

    frames: list[Atoms]
    name: str = "dataset"
    path: Path | None = None
    _hash: str | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Atoms]:
        return iter(self.frames)

    def __getitem__(self, index: int) -> Atoms:
        return self.frames[index]

    @property
    def n_atoms(self) -> int:
        return sum(len(a) for a in self.frames)

    @property
    def config_types(self) -> list[str]:
        return [str(a.info.get("config_type", "default")) for a in self.frames]

    @property
    def sources(self) -> list[str]:
        return [str(a.info.get("source", "")) for a in self.frames]

    @property
    def species(self) -> list[str]:
        return sorted({s for a in self.frames for s in a.get_chemical_symbols()})

    def energies_ev(self) -> np.ndarray:
        return np.array([a.info[ENERGY_KEY] for a in self.frames], dtype=float)

    def forces_ev_a(self) -> list[np.ndarray]:
        return [a.arrays[FORCES_KEY] for a in self.frames]

    @property
    def content_hash(self) -> str:
        """SHA-256 over structures and labels (not names or paths): equal data gives an equal hash."""
        if self._hash is None:
            digest = hashlib.sha256()
            for atoms in self.frames:
                digest.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
                digest.update(np.round(np.asarray(atoms.positions, dtype=float), 8).tobytes())
                digest.update(np.round(np.asarray(atoms.cell[:], dtype=float), 8).tobytes())
                digest.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
                digest.update(np.float64(atoms.info[ENERGY_KEY]).tobytes())
                digest.update(np.round(np.asarray(atoms.arrays[FORCES_KEY], dtype=float), 8).tobytes())
                stress = atoms.info.get(STRESS_KEY)
                if stress is not None:
                    digest.update(np.round(np.asarray(stress, dtype=float), 10).tobytes())
            self._hash = digest.hexdigest()
        return self._hash

    def select(self, indices: Sequence[int], name: str | None = None) -> Dataset:
        return Dataset([self.frames[i] for i in indices], name=name or self.name, path=self.path)

    def subsample(self, n: int, seed: int) -> Dataset:
        """``n`` frames drawn without replacement, reproducibly for a given seed (order kept)."""
        if not 0 < n <= len(self):
            raise ValueError(f"cannot subsample {n} frames from {len(self)}")
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(len(self), size=n, replace=False))
        return self.select(idx.tolist(), name=f"{self.name}[sub{n},seed{seed}]")

    def split(self, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """(train, test) split, reproducible for a given seed."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError("test_fraction must be in (0, 1)")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self))
        n_test = max(1, int(round(test_fraction * len(self))))
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        return (
            self.select(train.tolist(), name=f"{self.name}[train,seed{seed}]"),
            self.select(test.tolist(), name=f"{self.name}[test,seed{seed}]"),
        )

    def filter_config_types(self, config_types: Sequence[str]) -> Dataset:
        keep = set(config_types)
        return self.select([i for i, c in enumerate(self.config_types) if c in keep])
