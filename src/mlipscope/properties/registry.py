"""The property families: every :class:`~mlipscope.properties.base.Property` subclass that sets ``suite_order``
registers itself here when its class is defined, and says through its ``suite_entries(material)`` classmethod
which suite entries a material gives it.

A material's full list of entries (:func:`material_entries`) is the families' entries in ``suite_order`` (ties:
registration order); :mod:`mlipscope.properties.suite` only selects from it. Families come from the shipped modules
(:data:`BUILTIN_MODULES`) and from other packages through the entry-point group :data:`ENTRY_POINT_GROUP` (each
entry names a module; importing it defines, and so registers, its classes). Importing a family module must stay
cheap: listing a suite imports every one, so heavy dependencies (phonopy, phono3py) are imported where they run.

An entry is data (label, ``"module:Class"``, configuration) and builds its property only when asked, so a suite
can be listed, filtered and overridden before any property is instantiated.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # base imports this module (the registration hook): no runtime import back
    from mlipscope.materials.material import Material
    from mlipscope.properties.base import Property

#: the shipped family modules, imported by :func:`load` (their order is also the tie-break of equal orders)
BUILTIN_MODULES = (
    "mlipscope.properties.dataset_errors",
    "mlipscope.properties.eos",
    "mlipscope.properties.elastic",
    "mlipscope.properties.defects",
    "mlipscope.properties.surfaces",
    "mlipscope.properties.phonons",
    "mlipscope.properties.ranking",
    "mlipscope.properties.rare_events",
    "mlipscope.properties.migration",
    "mlipscope.properties.diffusion",
    "mlipscope.properties.rdf",
    "mlipscope.properties.dimer",
    "mlipscope.properties.stacking_faults",
    "mlipscope.properties.thermal_conductivity",
    "mlipscope.properties.thermal_expansion",
    "mlipscope.properties.melting",
    "mlipscope.properties.md_stability",
)
#: entry-point group of property modules of other packages (``[project.entry-points."mlipscope.properties"]``)
ENTRY_POINT_GROUP = "mlipscope.properties"

_FAMILIES: dict[str, type[Property]] = {}  # "module:Class" -> class, in registration order
_LOADED = False


@dataclass(frozen=True)
class SuiteEntry:
    """One property of a suite: its label, its class as ``"module:ClassName"`` and its configuration."""

    label: str
    target: str  # "module:ClassName"
    config: dict[str, Any] = field(default_factory=dict)

    def property_class(self) -> type[Property]:
        """The class the entry names."""
        cls = _FAMILIES.get(self.target)
        if cls is None:  # an entry made by hand, or a family not imported yet
            module_name, _, class_name = self.target.partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
        return cls

    def build(self, overrides: dict[str, Any] | None = None, material: Material | None = None) -> Property:
        cls = self.property_class()
        return cls(label=self.label, material=material, **{**self.config, **(overrides or {})})


def target_of(cls: type) -> str:
    """``"module:Class"`` of a class (what a :class:`SuiteEntry` names)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def register(cls: type[Property]) -> type[Property]:
    """Add a family, checking at class definition what a suite relies on; raises TypeError naming the class.

    Re-defining the same ``module:Class`` (a reloaded module) replaces it; another class with a registered
    ``name`` is refused (values are stored under family names)."""
    target = target_of(cls)
    problems = []
    name = cls.__dict__.get("name")
    if not isinstance(name, str) or not name:
        problems.append("set its own `name` (a non-empty string)")
    order = cls.__dict__.get("suite_order")
    if isinstance(order, bool) or not isinstance(order, (int, float)):
        problems.append(f"set `suite_order` to a number (got {order!r})")
    if getattr(cls.compute, "__isabstractmethod__", False):
        problems.append("implement `compute`")
    if not isinstance(inspect.getattr_static(cls, "suite_entries"), classmethod):
        problems.append("define `suite_entries` as a classmethod")
    clash = [t for t, other in _FAMILIES.items() if other.name == name and t != target]
    if clash:
        problems.append(f"use a family name other than {name!r} (taken by {clash[0]})")
    if problems:
        raise TypeError(f"property family {target}: " + "; ".join(problems))
    _FAMILIES[target] = cls
    return cls


def unregister(cls: type[Property]) -> None:
    """Remove a family (tests that define one; a no-op for an unknown class)."""
    _FAMILIES.pop(target_of(cls), None)


def load() -> None:
    """Import the shipped family modules and those of installed packages (once per process)."""
    global _LOADED
    if _LOADED:
        return
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        importlib.import_module(entry.value.partition(":")[0])
    _LOADED = True


def families() -> list[type[Property]]:
    """Every registered family in suite order (``suite_order``, then registration order)."""
    load()
    ordered = sorted(enumerate(_FAMILIES.values()), key=lambda item: (item[1].suite_order, item[0]))
    return [cls for _, cls in ordered]


def family(name: str) -> type[Property]:
    """The registered family called ``name``; KeyError naming the known ones."""
    for cls in families():
        if cls.name == name:
            return cls
    raise KeyError(f"no property family {name!r}; registered: {sorted(c.name for c in families())}")


def material_entries(material: Material) -> list[SuiteEntry]:
    """Every suite entry the material's data give the registered families, in suite order."""
    return [entry for cls in families() for entry in cls.suite_entries(material)]
