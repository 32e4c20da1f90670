"""Radial distribution function of the liquid, compared with a DFT reference curve.

A supercell of the material's crystal is melted at ``melt_temperature_k`` and then sampled at ``temperature_k``
(NVT at the model's crystal lattice constant scaled by ``density_scale``; LAMMPS when the model has a pair style,
ASE MD otherwise). g(r) is averaged over the sampled frames with :func:`ase.geometry.rdf.get_rdf`. Values: the
first-peak position (a parabola through the highest bin and its neighbours) and height, and, when a reference curve
is given (the material's ``liquid.reference_rdf``, e.g. the CASTEP PW91 Si liquid of the GAP-18 testing
framework), the RMS difference of g(r) on the reference grid, an error metric. A run that stays crystalline (it
did not melt, judged with the bond cutoff and coordination of the material's crystal) raises
:class:`~mlipscope.errors.EvaluationError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator

from mlipscope.errors import EvaluationError, InputError
from mlipscope.materials.defects import neighbour_shells, perfect_supercell
from mlipscope.materials.material import Material
from mlipscope.properties.base import Property, PropertyResult
from mlipscope.properties.md import crystalline_fraction, md_engine, run_nvt
from mlipscope.properties.registry import SuiteEntry
from mlipscope.properties.settings import MDSettings

#: libAtoms silicon-testing-framework raw result (CASTEP PW91 liquid); first peak at 2.475 Å


def read_reference_rdf(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(r in Å, g(r)) from a testing-framework liquid JSON (key ``liquid_rdf``: list of [r, g] pairs)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "reference_rdf", "an existing JSON file with 'liquid_rdf': [[r, g], ...]")
    data = json.loads(path.read_text())
    pairs = np.asarray(data.get("liquid_rdf", []), dtype=float) if isinstance(data, dict) else np.empty(0)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) < 3:
        raise InputError(path, "liquid_rdf", "a list of at least 3 [r, g] pairs")
    return pairs[:, 0], pairs[:, 1]


def first_peak(r_a: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(position in Å, height) of the highest peak of g(r), refined by a parabola through the top 3 bins."""
    i = int(np.clip(np.argmax(g), 1, len(g) - 2))
    y0, y1, y2 = g[i - 1], g[i], g[i + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    dr = r_a[i + 1] - r_a[i]
    return float(r_a[i] + shift * dr), float(y1 - 0.25 * (y0 - y2) * shift)


class LiquidRDF(Property):
    """g(r) of the liquid at ``temperature_k`` against a reference curve (see the module doc)."""

    name = "liquid_rdf"
    suite_order = 110

    @classmethod
    def suite_entries(cls, material: Material) -> list[SuiteEntry]:
        """``liquid_rdf`` when the material has a reference liquid RDF (``liquid.reference_rdf``)."""
        reference = material.liquid.get("reference_rdf")
        return [cls.suite_entry("liquid_rdf", reference_rdf=reference)] if reference else []

    def __init__(
        self,
        label: str | None = None,
        *,
        size: int | None = None,
        temperature_k: float = 1800.0,
        melt_temperature_k: float = 3500.0,
        melt_ps: float = 5.0,
        sample_ps: float = 5.0,
        timestep_fs: float = 1.0,
        density_scale: float = 1.0,
        rmax_a: float = 5.0,
        nbins: int = 100,
        reference_rdf: str | None = None,
        seed: int = 0,
        lattice_a: float | None = None,
        material=None,
        engine: str = "auto",
        lammps_commands: list[str] | None = None,
        elements: list[str] | None = None,
    ) -> None:
        super().__init__(label, material=material)
        size = size if size is not None else self.material.supercell_size(self.material.supercells[0])
        self.material.repeats_for_size(size)
        self.size = size
        self.temperature_k = temperature_k
        self.melt_temperature_k = melt_temperature_k
        self.melt_ps = melt_ps
        self.sample_ps = sample_ps
        self.timestep_fs = timestep_fs
        self.density_scale = density_scale
        self.rmax_a = rmax_a
        self.nbins = nbins
        self.reference_rdf = reference_rdf
        self.seed = seed
        self.lattice_a = lattice_a
        self.engine = engine
        self.lammps_commands = list(lammps_commands) if lammps_commands else None
        self.elements = list(elements) if elements else None
        self.md_settings()  # validates the MD settings (engine, time step) before any calculation

    def md_settings(self) -> MDSettings:
        """The settings of the melt and sample runs (seeds ``seed`` and ``seed + 1``; the sample every 25 fs)."""
        return MDSettings(
            timestep_fs=self.timestep_fs,
            seed=self.seed,
            engine=self.engine,
            lammps_commands=self.lammps_commands,
            elements=self.elements,
        )

    def compute(self, calculator: Calculator, context=None) -> PropertyResult:
        repeats = self.material.repeats_for_size(self.size)
        a_bulk = self.lattice_a or self.context_for(context).relaxed_bulk(calculator).lattice_constant_a
        a = a_bulk / self.density_scale ** (1 / 3)
        atoms = perfect_supercell(self.material, repeats, a)
        if self.rmax_a >= 0.5 * a * repeats:
            raise InputError(
                None, "rmax_a", f"less than half the cell side ({0.5 * a * repeats:.2f} Å)", got=self.rmax_a
            )
        md = md_engine(self.md_settings(), calculator)
        # melt hot (a superheated crystal survives long near T_m), then sample at the target temperature
        melt = run_nvt(atoms, temperature_k=self.melt_temperature_k, duration_ps=self.melt_ps, seed=self.seed, **md)
        liquid = melt.atoms(-1)
        traj = run_nvt(
            liquid,
            temperature_k=self.temperature_k,
            duration_ps=self.sample_ps,
            seed=self.seed + 1,
            **{**md, "sample_every_fs": 25.0},
        )
        first, second, coordination = neighbour_shells(self.material, a)
        crystalline = crystalline_fraction(traj, 0.5 * (first + second), coordination)
        if crystalline > 0.5:
            raise EvaluationError(f"liquid RDF: the cell did not melt (crystalline fraction {crystalline:.2f})")
        frames = [traj.atoms(i) for i in range(len(traj.times_ps) // 5, len(traj.times_ps))]  # skip 20 %
        from ase.geometry.rdf import get_rdf  # it loads scipy: here, not when a suite is listed

        g, r = get_rdf(frames, self.rmax_a, self.nbins)
        peak_a, height = first_peak(r, g)
        values = {"first_peak_a": peak_a, "first_peak_height": height}
        units = {"first_peak_a": "Å", "first_peak_height": "1"}
        details = {
            "r_a": r.round(4).tolist(),
            "g": g.round(5).tolist(),
            "crystalline_fraction": crystalline,
            "mean_temperature_k": float(traj.temperature_k[1:].mean()),
            "engine": traj.engine,
        }
        error_metrics: set[str] = set()
        ref_path = self._reference_path()
        if ref_path is not None:
            r_ref, g_ref = read_reference_rdf(ref_path)
            inside = (r_ref >= r[0]) & (r_ref <= r[-1])
            values["rdf_rms_difference"] = float(
                np.sqrt(np.mean((np.interp(r_ref[inside], r, g) - g_ref[inside]) ** 2))
            )
            units["rdf_rms_difference"] = "1"
            error_metrics.add("rdf_rms_difference")
            details["reference_peak_a"] = first_peak(r_ref, g_ref)[0]
        return self.result(values, units, error_metrics=error_metrics, details=details)

    def input_paths(self) -> list[str]:
        ref = self._reference_path()
        return super().input_paths() + ([str(ref)] if ref is not None else [])

    def _reference_path(self) -> Path | None:
        """The reference curve: a file path, or a file shipped in ``package_data/reference`` (the material's
        ``liquid.reference_rdf``); None without one."""
        if not self.reference_rdf:
            return None
        path = Path(self.reference_rdf)
        if path.is_file():
            return path
        from mlipscope.materials import reference_dir

        return reference_dir() / self.reference_rdf
