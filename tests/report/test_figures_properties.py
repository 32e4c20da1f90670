import math

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from mlipscope.report.figures_properties import eos_figure, fit_birch_murnaghan

matplotlib.use("Agg")

# a known Birch–Murnaghan E(V) per atom: E0 (eV/atom), B0 (eV/Å³; 0.6 = 96 GPa), B0', V0 (Å³/atom)
E0, B0, BP, V0 = -4.6, 0.6, 4.2, 20.0


def _bm(v: np.ndarray) -> np.ndarray:
    """Birch–Murnaghan, written out here (not ase's): with x = (V0/V)^(2/3),
    E0 + 9 V0 B0 / 16 {(x - 1)^3 B0' + (x - 1)^2 (6 - 4 x)}."""
    x = (V0 / v) ** (2.0 / 3.0)
    return E0 + 9.0 * V0 * B0 / 16.0 * ((x - 1.0) ** 3 * BP + (x - 1.0) ** 2 * (6.0 - 4.0 * x))


def _scan() -> dict:
    volumes = np.linspace(0.95 * V0, 1.05 * V0, 9)
    return {"volumes_a3_per_atom": volumes.tolist(), "energies_ev_per_atom": _bm(volumes).tolist()}


def test_fit_recovers_a_known_birch_murnaghan():
    details = _scan()
    e0, b0, bp, v0 = fit_birch_murnaghan(
        np.array(details["volumes_a3_per_atom"]), np.array(details["energies_ev_per_atom"])
    )
    assert (e0, b0, bp, v0) == pytest.approx((E0, B0, BP, V0), rel=1e-4)
    # no minimum inside the sampled volumes, or too few points: no fit
    left = np.linspace(0.80 * V0, 0.90 * V0, 9)
    assert fit_birch_murnaghan(left, _bm(left)) is None
    assert fit_birch_murnaghan(left[:4], _bm(left[:4])) is None


def test_eos_figure_draws_the_fitted_curve_and_the_reference_volume():
    a_model, a_ref = 5.43, 5.47
    fig = eos_figure(_scan(), {"lattice_constant_a": (a_model, a_ref), "bulk_modulus_gpa": (96.1, 98.0)})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    lines = {line.get_label().split(":")[0].split(" =")[0]: line for line in ax.get_lines()}
    assert set(lines) == {"model", "Birch–Murnaghan fit", "model V0", "reference V0"}
    curve = lines["Birch–Murnaghan fit"]
    x, y = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    assert np.allclose(y, _bm(x), atol=1e-6)  # the fitted curve is the known one
    assert x[np.argmin(y)] == pytest.approx(V0, abs=0.02)
    # the reference V0: the model's V0 scaled by (a_ref / a_model)^3, a vertical line the curve reaches
    v_ref = V0 * (a_ref / a_model) ** 3
    ref_x = lines["reference V0"].get_xdata()
    assert list(ref_x) == pytest.approx([v_ref, v_ref], rel=1e-4)
    assert x.min() <= v_ref <= x.max()
    assert list(lines["model V0"].get_xdata()) == pytest.approx([V0, V0], rel=1e-4)
    assert ax.get_xlabel() == "volume (Å³/atom)" and ax.get_ylabel() == "energy (eV/atom)"
    assert curve.get_label().endswith(f"B = {B0 * 160.21766:.3g} GPa")  # 1 eV/Å³ = 160.218 GPa


def test_eos_figure_without_a_reference_or_fit():
    ax = eos_figure(_scan(), {"lattice_constant_a": (5.43, math.nan)}).axes[0]
    assert "reference V0" not in {line.get_label().split(" =")[0] for line in ax.get_lines()}
    few = {"volumes_a3_per_atom": [18.0, 19.0, 20.0, 21.0], "energies_ev_per_atom": [-4.50, -4.60, -4.62, -4.58]}
    ax = eos_figure(few, {"lattice_constant_a": (5.43, 5.47)}).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["model"]  # 4 points: no fit, so no scaled reference
