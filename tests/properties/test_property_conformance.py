"""The shipped property conformance tests (mlipscope.testing.PropertyConformance) on every registered property
family (its cheapest instance), on another material, and on broken properties they must reject."""

from __future__ import annotations

import functools
import importlib.util
import json
import pickle
from collections.abc import Callable

import pytest
from ase.calculators.calculator import Calculator

from mlipscope.calculators import make_calculator
from mlipscope.properties import registry
from mlipscope.properties.base import Property
from mlipscope.properties.context import MaterialContext
from mlipscope.properties.dataset_errors import DatasetErrors
from mlipscope.properties.defects import DefectFormationEnergy
from mlipscope.properties.diffusion import DefectDiffusion
from mlipscope.properties.dimer import DimerCurve
from mlipscope.properties.elastic import ElasticConstants
from mlipscope.properties.eos import EquationOfState
from mlipscope.properties.md_stability import MDStability
from mlipscope.properties.melting import MeltingPoint
from mlipscope.properties.migration import MigrationBarrier
from mlipscope.properties.phonons import Phonons
from mlipscope.properties.ranking import EnergyRanking
from mlipscope.properties.rare_events import RareEventForces
from mlipscope.properties.rdf import LiquidRDF
from mlipscope.properties.stacking_faults import StackingFaults
from mlipscope.properties.surfaces import SurfaceEnergy
from mlipscope.properties.thermal_conductivity import ThermalConductivity
from mlipscope.properties.thermal_expansion import ThermalExpansion
from mlipscope.runner.benchmark import suite_properties
from mlipscope.testing import PropertyConformance
from mlipscope.testing.property import check_property

SW_A = 5.431  # SW silicon's lattice constant (Å): fixed where a property allows it, to skip the bulk relaxation


@functools.cache
def _sw() -> Calculator:
    return make_calculator("sw")


def _tersoff() -> Calculator:
    return make_calculator("tersoff")


def _diffusion() -> DefectDiffusion:
    """Two short hot temperatures (6 and 7 hops with SW), one replica each, no NEB check."""
    return DefectDiffusion(
        defect="vacancy", temperatures_k=(1400.0, 1550.0), replica_ps=6.0, timestep_fs=2.0, min_replicas=1,
        max_replicas=1, target_hops=4, min_hops=2, block_ps=1.5, equilibration_ps=0.5, lattice_a=SW_A,
        neb_check=False,
    )  # fmt: skip


#: family name -> (cheapest instance, a calculator for its material, another calculator or None): every
#: registered family must have one (a new family gets its conformance test by adding a line here)
CHEAP: dict[str, tuple[Callable[[], Property], Callable[[], Calculator], Callable[[], Calculator] | None]] = {
    "dataset_errors": (lambda: DatasetErrors("si_enhanced_validation"), _sw, None),
    "eos": (lambda: EquationOfState(n_points=5), _sw, _tersoff),
    "elastic": (lambda: ElasticConstants(cell="perfect", size=8, n_strains=2), _sw, None),
    "defect": (lambda: DefectFormationEnergy(defect="vacancy", size=64), _sw, _tersoff),
    "surface_energy": (lambda: SurfaceEnergy((1, 0, 0)), _sw, None),
    "phonons": (lambda: Phonons("perfect", mesh=(4, 4, 4), band_points=5), _sw, None),
    "energy_ranking": (lambda: EnergyRanking("si_stf_test", config_types=["SF"]), _sw, None),  # no relaxation
    "rare_events": (lambda: RareEventForces(dataset="si_vacancy_re_test", max_frames=5), _sw, None),
    "migration": (lambda: MigrationBarrier(n_images=1, lattice_a=SW_A, fmax=0.1, max_steps=300), _sw, None),
    "diffusion": (_diffusion, _sw, None),
    "liquid_rdf": (lambda: LiquidRDF(lattice_a=SW_A, melt_ps=4.0, sample_ps=2.0), _sw, None),
    "dimer": (lambda: DimerCurve(n_points=10), _sw, None),
    "stacking_faults": (lambda: StackingFaults(n_points=3), _sw, None),
    "thermal_conductivity": (
        lambda: ThermalConductivity(mesh=(4, 4, 4), temperatures_k=(300.0, 600.0)),
        _sw,
        None,
    ),
    "thermal_expansion": (lambda: ThermalExpansion(n_volumes=5, mesh=(6, 6, 6), t_max_k=400.0), _sw, None),
    "melting_point": (
        lambda: MeltingPoint(repeats=(2, 2, 6), melt_ps=3.0, run_ps=3.0, temperatures_k=(1200.0, 1700.0, 2200.0)),
        _sw,
        None,
    ),
    "md_stability": (
        lambda: MDStability(
            nve_ps=0.1, ramp_ps=0.2, ramp_end_k=600.0, compression_end=0.9, compression_segment_ps=0.02
        ),
        _sw,
        None,
    ),
}
NEEDS = {"thermal_conductivity": "phono3py"}  # optional dependencies of a family


def test_every_registered_family_has_a_cheap_instance():
    names = [cls.name for cls in registry.families()]
    assert set(names) <= set(CHEAP), f"add a cheap instance of {sorted(set(names) - set(CHEAP))} to CHEAP"


@pytest.mark.parametrize("family", [cls.name for cls in registry.families()])
def test_registered_family_conforms(family):
    make_property, make_calc, make_other = CHEAP[family]
    if family in NEEDS and importlib.util.find_spec(NEEDS[family]) is None:
        pytest.skip(f"{NEEDS[family]} is not installed")
    assert type(make_property()) is registry.family(family)
    check_property(make_property, make_calc, make_other)


class TestEOSConformance(PropertyConformance):
    def make_property(self):
        return EquationOfState()

    def make_calculator(self):
        return make_calculator("sw")

    def make_other_calculator(self):
        return make_calculator("tersoff")


class TestMoDatasetErrorsConformance(PropertyConformance):
    """Another material: Mo's test set with its mlearn SNAP potential."""

    def make_property(self):
        (prop,) = [p for p in suite_properties("quick", material="mo") if isinstance(p, DatasetErrors)]
        return prop

    def make_calculator(self):
        return make_calculator("mlearn-snap:Mo")


class _Counting(Property):
    """Keeps state between calls: its value changes with each computation."""

    name = "counting"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def compute(self, calculator, context=None):
        self.calls += 1
        return self.result({"x_ev": float(self.calls)}, {"x_ev": "eV"})


class _NoUnit(Property):
    name = "no_unit"

    def compute(self, calculator, context=None):
        from mlipscope.properties.base import PropertyResult

        return PropertyResult(self.label, {"x_ev": 1.0}, {})


class _Unpicklable(Property):
    name = "unpicklable"

    def __init__(self) -> None:
        super().__init__()
        self.hook = lambda: None  # a lambda cannot be pickled: Dask could not ship it

    def compute(self, calculator, context=None):
        return self.result({"x_ev": 1.0}, {"x_ev": "eV"})


def _checks(prop_type) -> tuple[PropertyConformance, tuple]:
    """The conformance checks of ``prop_type`` and what their ``computed`` fixture would give."""

    class Checks(PropertyConformance):
        def make_property(self):
            return prop_type()

        def make_calculator(self):
            return None

    checks = Checks()
    prop = checks.make_property()
    before = json.dumps(prop.config(), sort_keys=True, default=str)
    return checks, (prop, before, prop.compute(None, MaterialContext(prop.material)))


def test_conformance_rejects_state_between_calls():
    checks, computed = _checks(_Counting)
    with pytest.raises(AssertionError):
        checks.test_no_state_between_calls(computed)
    with pytest.raises(AssertionError, match="changed the property's configuration"):
        checks.test_key_is_stable(computed)


def test_conformance_rejects_a_value_without_a_unit():
    checks, computed = _checks(_NoUnit)
    with pytest.raises(AssertionError, match="no unit"):
        checks.test_every_value_has_a_unit(computed)


def test_conformance_rejects_an_unpicklable_property():
    checks, _ = _checks(_Unpicklable)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError), match="(?i)pickle"):
        checks.test_pickles_with_the_same_key()
