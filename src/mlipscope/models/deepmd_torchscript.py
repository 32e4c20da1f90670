"""A frozen DeePMD-kit model (``dp --pt freeze``'s TorchScript ``model.pth``) evaluated with this interpreter's torch.

The frozen model is a self-contained TorchScript module: its forward takes coordinates, atom types and the cell,
builds its own neighbour list and returns energy, forces and the virial. Without DeePMD's compiled ops (a
compressed model) it needs no deepmd-kit, so the core environment's torch runs it directly, without a JSON round
trip to a child per structure. A model that references ops this torch lacks fails in :func:`load_frozen_model`,
and the family falls back to DeePMD's own calculator in its environment.

:class:`FrozenDeePMDCalculator` does what ``deepmd.calculator.DP`` does with the model's outputs (the virial to a
symmetrised stress, tension positive), so the two agree to round-off (tested against DP in the environment).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.calculators.calculator import Calculator, all_changes

from mlipscope.errors import InputError

#: torch threads of one evaluation: runs go side by side, one per core; a second thread on a busy 2-core machine
#: made a 64-atom call ~40x slower (0.35 s instead of 9 ms)
TORCH_THREADS = 1


def load_frozen_model(path: Path) -> Any:
    """The TorchScript module in ``path`` (raises ImportError without torch, RuntimeError for unknown ops)."""
    import torch

    return torch.jit.load(str(path), map_location="cpu")


class FrozenDeePMDCalculator(Calculator):
    """ASE calculator for a frozen DeePMD model run in this process (energy, forces and, for a cell, stress).

    Like DeePMD's DP calculator, a structure with any periodic direction is passed with its cell (the model treats
    it as periodic in all three) and gets a stress; one without gets none.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model_path: str | Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_path = Path(model_path)
        self.model = load_frozen_model(self.model_path)
        self.type_map: list[str] = list(self.model.get_type_map())

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        import torch

        super().calculate(atoms, properties, system_changes)
        symbols = self.atoms.get_chemical_symbols()
        unknown = sorted(set(symbols) - set(self.type_map))
        if unknown:
            raise InputError(
                self.model_path, "type_map", f"the structure's elements among {self.type_map}", got=unknown
            )
        coord = torch.tensor(self.atoms.get_positions()[None], dtype=torch.float64)
        atype = torch.tensor([[self.type_map.index(s) for s in symbols]], dtype=torch.long)
        periodic = bool(self.atoms.pbc.any())
        box = torch.tensor(self.atoms.cell[:][None], dtype=torch.float64) if periodic else None
        threads = torch.get_num_threads()
        torch.set_num_threads(TORCH_THREADS)
        try:
            # without the profiling executor's optimisation passes: they cost ~0.4 s on each of the first calls
            # and gained nothing in steady state (measured on a 64-atom se_e2_a model)
            with torch.jit.optimized_execution(False):
                out = self.model(coord, atype, box=box, do_atomic_virial=False)
        finally:
            torch.set_num_threads(threads)
        energy_ev = float(out["energy"].detach().reshape(-1)[0])
        self.results = {"energy": energy_ev, "free_energy": energy_ev}
        self.results["forces"] = out["force"].detach().reshape(len(symbols), 3).numpy().astype(float)
        if periodic:
            virial_ev = out["virial"].detach().reshape(3, 3).numpy()
            stress = -0.5 * (virial_ev + virial_ev.T) / self.atoms.get_volume()  # eV/Å³, tension positive
            self.results["stress"] = stress.flat[[0, 4, 8, 5, 2, 1]].astype(float)
