"""Liquid-Si radial distribution function (Stillinger-Weber, LAMMPS MD) against the CASTEP PW91 reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlipscope.errors import InputError
from mlipscope.properties.rdf import LiquidRDF, first_peak, read_reference_rdf

REF_JSON = "reference/model-CASTEP_ASE-test-liquid-properties.json"


def test_first_peak_refines_between_bins():
    r = np.arange(0.0, 5.0, 0.1)
    g = 2.0 * np.exp(-((r - 2.43) ** 2) / 0.05)
    peak, height = first_peak(r, g)
    assert peak == pytest.approx(2.43, abs=0.01)
    assert height == pytest.approx(2.0, abs=0.05)


def test_reference_peak_matches_tabulated_value(shared_data):
    r, g = read_reference_rdf(shared_data / REF_JSON)
    table = json.loads((shared_data / "reference/si_reference_properties.json").read_text())
    assert r[np.argmax(g)] == pytest.approx(table["PW91_CASTEP_GAP18_reference"]["liquid_rdf_first_peak_A"])


def test_bad_reference_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"liquid_rdf": [[0, 0]]}))
    with pytest.raises(InputError, match="liquid_rdf"):
        read_reference_rdf(bad)


def test_sw_liquid_first_peak_near_dft(sw_calc, shared_data):
    prop = LiquidRDF(lattice_a=5.431, melt_ps=4.0, sample_ps=4.0, reference_rdf=str(shared_data / REF_JSON))
    result = prop.compute(sw_calc)
    assert result.details["engine"] == "lammps" and result.details["crystalline_fraction"] < 0.3
    assert abs(result.details["mean_temperature_k"] - 1800.0) < 100.0
    # SW liquid first peak vs DFT (PW91) 2.475 Å: SW is known to be close here (~2.50 Å); 0.06 Å tolerance
    assert result.values["first_peak_a"] == pytest.approx(2.475, abs=0.06)
    assert 1.5 < result.values["first_peak_height"] < 3.0
    assert result.values["rdf_rms_difference"] < 0.3
    assert "rdf_rms_difference" in result.error_metrics
