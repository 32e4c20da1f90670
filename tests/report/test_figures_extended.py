"""Figures of the extended property families: each is drawn from the details its property stores (computed here
with Stillinger–Weber Si), and from no other family's details."""

from __future__ import annotations

import pytest

from mlipscope.calculators import make_calculator
from mlipscope.properties.dimer import DimerCurve
from mlipscope.properties.md_stability import MDStability
from mlipscope.properties.stacking_faults import StackingFaults
from mlipscope.properties.thermal_conductivity import ThermalConductivity
from mlipscope.properties.thermal_expansion import ThermalExpansion
from mlipscope.report.figures_properties import property_figures

CASES = {
    "gsfe": lambda: StackingFaults(material="si", n_points=3),
    "dimer": lambda: DimerCurve(n_points=20),
    "kappa": lambda: ThermalConductivity(material="si", mesh=(4, 4, 4), temperatures_k=(300.0, 600.0)),
    "expansion": lambda: ThermalExpansion(material="si", mesh=(6, 6, 6), t_max_k=400.0),
    "stability": lambda: MDStability(material="si", nve_ps=0.1, ramp_ps=0.2, compression_segment_ps=0.02),
}


@pytest.mark.parametrize("key", sorted(CASES))
def test_each_family_draws_exactly_its_own_figure(key, tmp_path):
    details = CASES[key]().compute(make_calculator("sw")).details
    drawn = property_figures(details, title="sw")
    assert [k for k, _, _ in drawn] == [key]
    figure = drawn[0][2]
    axis = figure.axes[0]
    assert axis.get_xlabel() and "(" in axis.get_ylabel()  # labelled, with a unit
    figure.savefig(tmp_path / f"{key}.png")
    assert (tmp_path / f"{key}.png").stat().st_size > 1000


def test_melting_figure_from_stored_rates_with_the_reference():
    details = {"temperature_k": [1300.0, 1500.0, 1700.0, 1900.0], "energy_rate_mev_atom_ps": [-12.0, -7.0, 2.0, 11.0],
               "energies_ev_atom": [[-4.3, -4.31]] * 4, "n_atoms": 192}  # fmt: skip
    drawn = property_figures(details, {"melting_point_k": (1640.0, 1492.0)}, title="sw")
    assert [k for k, _, _ in drawn] == ["melting"]
    assert any("1492" in text.get_text() for text in drawn[0][2].axes[0].get_legend().get_texts())
