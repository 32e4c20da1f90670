"""The relaxation and MD settings objects shared by the properties (issue 20)."""

from __future__ import annotations

import dataclasses

import pytest

from mlipscope.errors import InputError
from mlipscope.properties.defects import DefectFormationEnergy
from mlipscope.properties.diffusion import DefectDiffusion
from mlipscope.properties.elastic import ElasticConstants
from mlipscope.properties.md import md_engine
from mlipscope.properties.rdf import LiquidRDF
from mlipscope.properties.settings import OPTIMIZER_NAMES, MDSettings, RelaxationSettings
from mlipscope.properties.structures import OPTIMIZERS, RelaxSettings


def test_relaxation_settings_are_frozen_validated_and_keyed_as_before():
    assert tuple(OPTIMIZERS) == OPTIMIZER_NAMES and RelaxSettings is RelaxationSettings
    settings = RelaxationSettings(fmax=1, max_steps=10.0, optimizer="LBFGS", hydrostatic=True)
    assert settings.fmax == 1.0 and isinstance(settings.max_steps, int) and not settings.hydrostatic
    assert list(settings.as_dict()) == ["fmax", "max_steps", "optimizer", "relax_cell", "hydrostatic",
                                        "fix_symmetry_symprec"]  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.fmax = 0.1  # type: ignore[misc]
    with pytest.raises(InputError, match="optimizer"):
        RelaxationSettings(optimizer="GD")


def test_properties_build_their_settings_from_their_own_arguments():
    elastic = ElasticConstants(size=8, fmax=1e-3, optimizer="FIRE")
    assert elastic.relaxation() == RelaxationSettings(fmax=1e-3, max_steps=1000, optimizer="FIRE", relax_cell=True)
    assert "relaxation" not in elastic.config()  # the flat arguments stay the configuration
    with pytest.raises(InputError, match="optimizer"):
        ElasticConstants(optimizer="GD")  # refused when built, before any work
    with pytest.raises(InputError, match="optimizer"):
        DefectFormationEnergy(optimizer="GD")
    diffusion = DefectDiffusion(timestep_fs=2.0, seed=3, lammps_commands=["pair_style sw"], elements=["Si"])
    assert diffusion.md_settings() == MDSettings(
        timestep_fs=2.0, seed=3, lammps_commands=("pair_style sw",), elements=("Si",)
    )
    with pytest.raises(InputError, match="engine"):
        LiquidRDF(engine="gromacs")


def test_md_engine_picks_lammps_or_ase(sw_calc):
    lammps = md_engine(MDSettings(), sw_calc)  # a LAMMPSlib calculator brings its pair commands
    assert lammps["lammps_commands"] and lammps["elements"] == ["Si"]
    assert (lammps["friction_per_fs"], lammps["damping_steps"], lammps["sample_every_fs"]) == (0.01, 100, 50.0)
    ase = md_engine(MDSettings(engine="ase", timestep_fs=2.0), sw_calc)
    assert ase["lammps_commands"] is None and ase["calculator"] is sw_calc and ase["timestep_fs"] == 2.0
    with pytest.raises(InputError, match="engine"):
        md_engine(MDSettings(engine="lammps"), None)
    with pytest.raises(InputError, match="positive"):
        MDSettings(timestep_fs=0.0)
