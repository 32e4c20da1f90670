"""Building and training torchani models for :mod:`mlipscope.models.nnp` (plain torch around torchani modules).

The model is a ``torchani.arch.ANI`` put together by ``torchani.arch.Assembler``: an ``AEVComputer`` with
``ANIRadial``/``ANIAngular`` terms (Behler–Parrinello radial and modified angular symmetry functions, shifts
spread linearly up to each cutoff), per-element ``AtomicNetwork`` MLPs in ``ANINetworks`` and a ``SelfEnergy``
shift. torchani works in Hartree (its ASE calculator multiplies by ``ase.units.Hartree``), so the model's energies
are Hartree and the loss is taken in eV.

Training follows torchani's own examples (Adam on energy + force MSE, forces by autograd with ``create_graph``),
with one speed-up: the periodic neighbour list of every training frame (pair indices and image shifts, within the
radial cutoff) is computed once by torchani's ``all_pairs`` and a batch of frames is evaluated as one flat system
through ``ANI.compute_from_neighbors(..., atomic=True)``, per-atom energies summed per frame. Positions move
only through autograd, so pair distances are rebuilt from the stored shifts with the gradient intact.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: torchani prints a warning about its CUDA extensions on import; they are not used on CPU
os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")

import ase.units  # noqa: E402
import torch  # noqa: E402

HARTREE_EV = float(ase.units.Hartree)
#: AEV shifts start here (Å), as in ANI; below it there are no neighbours in a sane structure
SHIFT_START_A = 0.9
#: Gaussian widths follow the shift spacing: eta * spacing**2 as in ANI-2x (radial 19.7 at 16 shifts over 0.9-5.2 Å,
#: angular 12.5 at 8 shifts over 0.9-3.5 Å), zeta * (4 / sections)**2 = 14.1 (ANI-2x's 4 angle sections)
RADIAL_ETA_SPACING2 = 19.7 * ((5.2 - SHIFT_START_A) / 16) ** 2
ANGULAR_ETA_SPACING2 = 12.5 * ((3.5 - SHIFT_START_A) / 8) ** 2
ZETA_AT_4_SECTIONS = 14.1


def model_config(hp: dict[str, Any], species: list[str], self_energies_ev: list[float]) -> dict[str, Any]:
    """Everything ``build_model`` needs, JSON-serialisable (written next to the state dict)."""
    rc, ra = float(hp["radial_cutoff_a"]), float(hp["angular_cutoff_a"])
    n_r, n_a, n_s = int(hp["radial_shifts"]), int(hp["angular_shifts"]), int(hp["angular_sections"])
    return {
        "species": list(species),
        "self_energies_ev": [float(e) for e in self_energies_ev],
        "radial_cutoff_a": rc,
        "angular_cutoff_a": ra,
        "radial_shifts": n_r,
        "angular_shifts": n_a,
        "angular_sections": n_s,
        "radial_eta": RADIAL_ETA_SPACING2 / ((rc - SHIFT_START_A) / n_r) ** 2,
        "angular_eta": ANGULAR_ETA_SPACING2 / ((ra - SHIFT_START_A) / n_a) ** 2,
        "angular_zeta": ZETA_AT_4_SECTIONS * (n_s / 4) ** 2,
        "shift_start_a": SHIFT_START_A,
        "cutoff_fn": "cosine",
        "hidden_layers": [int(hp["hidden_width"])] * int(hp["hidden_layers"]),
        "activation": str(hp["activation"]),
        "bias": True,
    }


def build_model(config: dict[str, Any], dtype: torch.dtype = torch.float64):
    """A ``torchani.arch.ANI`` for ``config`` (from ``model_config``), freshly initialised by torch's RNG."""
    from torchani.aev import ANIAngular, ANIRadial
    from torchani.arch import Assembler
    from torchani.nn import ANINetworks

    species = config["species"]
    asm = Assembler(symbols=species, neighborlist="all_pairs", periodic_table_index=True)
    asm.set_global_cutoff_fn(config["cutoff_fn"])
    asm.set_aev_computer(
        radial=ANIRadial.cover_linearly(
            start=config["shift_start_a"],
            cutoff=config["radial_cutoff_a"],
            eta=config["radial_eta"],
            num_shifts=config["radial_shifts"],
        ),
        angular=ANIAngular.cover_linearly(
            start=config["shift_start_a"],
            cutoff=config["angular_cutoff_a"],
            eta=config["angular_eta"],
            zeta=config["angular_zeta"],
            num_shifts=config["angular_shifts"],
            num_sections=config["angular_sections"],
        ),
        strategy="pyaev",
    )
    asm.set_atomic_networks(
        cls=ANINetworks,
        ctor="build",
        kwargs={
            "dims": {},
            "default_dims": tuple(config["hidden_layers"]),
            "activation": config["activation"],
            "bias": bool(config["bias"]),
        },
    )
    asm.set_self_energies({s: e / HARTREE_EV for s, e in zip(species, config["self_energies_ev"], strict=True)})
    return asm.assemble().to(dtype)


def least_squares_self_energies(frames, species: list[str], energy_key: str = "dft_energy") -> list[float]:
    """Per-element energies (eV) fitting the training energies best in least squares (the net learns the rest)."""
    counts = np.array([[np.count_nonzero(a.numbers == _number(s)) for s in species] for a in frames], dtype=float)
    energies = np.array([a.info[energy_key] for a in frames], dtype=float)
    solution, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return [float(e) for e in solution]


def _number(symbol: str) -> int:
    from ase.data import atomic_numbers

    return atomic_numbers[symbol]


@dataclass
class FrameTensors:
    """One training frame with its neighbour list precomputed (float64 on CPU)."""

    elem_idxs: torch.Tensor  # (atoms,)
    coords: torch.Tensor  # (atoms, 3)
    pairs: torch.Tensor  # (2, pairs)
    shifts: torch.Tensor  # (pairs, 3): diff = coords[p0] - coords[p1] + shift
    energy_ev: float
    forces_ev_a: torch.Tensor  # (atoms, 3)


def frame_tensors(atoms, species: list[str], cutoff: float, energy_key: str, forces_key: str) -> FrameTensors:
    from torchani.neighbors import all_pairs, reconstruct_shifts

    index = {_number(s): i for i, s in enumerate(species)}
    elem = torch.tensor([index[int(z)] for z in atoms.numbers], dtype=torch.long)
    coords = torch.tensor(atoms.positions, dtype=torch.float64)
    if atoms.pbc.any():
        cell = torch.tensor(atoms.cell.complete().array, dtype=torch.float64)
        pbc = torch.tensor(atoms.pbc, dtype=torch.bool)
    else:
        cell = pbc = None
    with torch.no_grad():
        neighbors = all_pairs(cutoff, elem.unsqueeze(0), coords.unsqueeze(0), cell, pbc)
        shifts = reconstruct_shifts(coords.unsqueeze(0), neighbors)
    return FrameTensors(
        elem,
        coords,
        neighbors.indices.clone(),
        shifts.clone(),
        float(atoms.info[energy_key]),
        torch.tensor(atoms.arrays[forces_key], dtype=torch.float64),
    )


def batch_energies_forces(model, frames: list[FrameTensors], dtype: torch.dtype, create_graph: bool):
    """Energies (eV, per frame) and forces (eV/Å, all atoms stacked) of ``frames`` evaluated as one flat system."""
    from torchani.neighbors import Neighbors

    offsets = np.cumsum([0] + [len(f.elem_idxs) for f in frames])
    elem = torch.cat([f.elem_idxs for f in frames]).unsqueeze(0)
    coords = torch.cat([f.coords for f in frames]).to(dtype).unsqueeze(0).requires_grad_(True)
    pairs = torch.cat([f.pairs + int(o) for f, o in zip(frames, offsets[:-1], strict=True)], dim=1)
    shifts = torch.cat([f.shifts for f in frames]).to(dtype)
    flat = coords.view(-1, 3)
    diff = flat.index_select(0, pairs[0]) - flat.index_select(0, pairs[1]) + shifts
    neighbors = Neighbors(pairs, diff.norm(2, -1), diff)
    atomic = model.compute_from_neighbors(elem, coords, neighbors, atomic=True).energies.view(-1) * HARTREE_EV
    owner = torch.repeat_interleave(torch.arange(len(frames)), torch.tensor(np.diff(offsets)))
    energies = atomic.new_zeros(len(frames)).index_add_(0, owner, atomic)
    (grad,) = torch.autograd.grad(energies.sum(), coords, create_graph=create_graph)
    return energies, -grad.view(-1, 3)


class _PerHartree(torch.nn.Module):
    """Parametrisation ``w = raw / Hartree``: Adam steps on ``raw`` move energies in eV, not 27x that."""

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return raw / HARTREE_EV


def _output_layers(model) -> list[torch.nn.Linear]:
    return [net.final_layer for net in model.neural_networks.atomics.values()]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def train(
    model,
    frames: list[FrameTensors],
    hp: dict[str, Any],
    seed: int,
    dtype: torch.dtype,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, float]:
    """Adam on ``energy_weight * MSE(E/atom) + force_weight * MSE(F)`` with a cosine learning-rate decay to 5 %.

    Deterministic for a given ``seed`` (batch order from numpy's generator; the caller seeds torch before building
    the model). Raises :class:`TrainingDiverged` when a batch loss is not finite. While training, the output
    layers are parametrised in eV (torchani's model works in Hartree); the plain layers are put back at the end.
    """
    from torch.nn.utils import parametrize

    for layer in _output_layers(model):
        for name in ("weight", "bias"):
            if getattr(layer, name, None) is not None:
                parametrize.register_parametrization(layer, name, _PerHartree())
    try:
        return _train(model, frames, hp, seed, dtype, log)
    finally:
        for layer in _output_layers(model):
            for name in ("weight", "bias"):
                if parametrize.is_parametrized(layer, name):
                    parametrize.remove_parametrizations(layer, name, leave_parametrized=True)


def _train(model, frames, hp, seed, dtype, log) -> dict[str, float]:
    epochs = int(hp["epochs"])
    batch_size = max(1, min(int(hp["batch_size"]), len(frames)))
    w_e, w_f = float(hp["energy_weight"]), float(hp["force_weight"])
    optimizer = torch.optim.Adam(model.parameters(), lr=float(hp["lr"]))
    steps_per_epoch = math.ceil(len(frames) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    )
    rng = np.random.default_rng(seed)
    n_atoms = torch.tensor([len(f.elem_idxs) for f in frames], dtype=dtype)
    targets_e = torch.tensor([f.energy_ev for f in frames], dtype=dtype)
    start = time.perf_counter()
    loss_value = float("nan")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(frames))
        sum_e = sum_f = 0.0
        count_f = 0
        for b in range(steps_per_epoch):
            idx = order[b * batch_size : (b + 1) * batch_size]
            batch = [frames[i] for i in idx]
            energies, forces = batch_energies_forces(model, batch, dtype, create_graph=True)
            de = (energies - targets_e[idx]) / n_atoms[idx]
            df = forces - torch.cat([f.forces_ev_a for f in batch]).to(dtype)
            loss = w_e * de.square().mean() + w_f * df.square().mean()
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise TrainingDiverged(f"NNP training diverged at epoch {epoch}: loss {loss_value}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            sum_e += float(de.detach().square().sum())
            sum_f += float(df.detach().square().sum())
            count_f += df.numel()
        if epoch == 1 or epoch == epochs or epoch % max(1, epochs // 10) == 0:
            log(
                f"epoch {epoch}/{epochs}: loss {loss_value:.6g}, running RMSE E "
                f"{math.sqrt(sum_e / len(frames)):.5f} eV/atom, F {math.sqrt(sum_f / count_f):.4f} eV/A, "
                f"lr {schedule.get_last_lr()[0]:.3g}, {time.perf_counter() - start:.1f} s"
            )
    return {"final_batch_loss": loss_value}
