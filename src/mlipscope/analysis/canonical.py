"""One value per property for the multi-property analyses, and the category of each property.

An error table holds several values of one property: a dataset's energy and force errors as RMSE and MAE, over the
whole set and per config type, with and without the energy offset; a rare-event set's RE_F, RE_M, RE_A beside the
vector force errors and the shares above cut-offs. The correlation graph, the Pareto fronts, the Lasso graph and
the clustering would find these variants correlated with each other (an RMSE with its own MAE) and count one
property many times. :func:`canonical_values` keeps one value per property by these rules, each applied only when
the preferred value is in the table (a table with only MAEs keeps its MAEs):

1. per config type ``<label>.<metric>.<config_type>``: dropped for the whole-set ``<label>.<metric>``;
2. MAE (a ``mae`` word in the key): dropped for the RMSE of the same quantity (the seed study's measure);
3. ``energy_offset_removed_*``: dropped for the raw ``energy_*`` (the seed study's energy RMSE; the offset-removed
   one is for potentials with another energy zero);
4. rare-event sets: ``vector_rmse_ev_a`` / ``vector_mae_ev_a`` dropped for RE_F (``re_f_ev_a``, the study's force
   metric on the RE atoms) and the shares above cut-offs (``frac_*``) for RE_M / RE_A, which integrate the same
   distributions;
5. bookkeeping values (``failed_frame_fraction``, counts ``n_*``): not accuracy values, dropped when the property
   has another value.

Names follow ``<property label>.<value key>`` (:mod:`mlipscope.properties`); names of other tables (no such
structure) are all kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

CATEGORIES: tuple[tuple[str, str], ...] = (  # (regular expression on the full name, category), first match wins
    (r"^re_|\.re_", "rare-event sets"),
    (r"^errors_|\.(energy|force|stress)_(offset_removed_)?(rmse|mae)_", "dataset energy/force errors"),
    (r"formation_energy", "defect formation energies"),
    (r"surface_energy", "surface energies"),
    (r"barrier|^migration_", "migration barriers"),
    (r"^diffusion_|activation_energy|prefactor", "diffusion"),
    (r"^md_survival|failure_rate", "MD stability"),
    (r"^phonon|_thz$", "phonons"),
    (r"^eos\.|lattice_constant|cohesive_energy", "lattice and equation of state"),
    (r"^elastic|\.c\d\d_gpa$|bulk_modulus", "elastic constants"),
    (r"^polymorph|ranking", "polymorph energy ranking"),
)
OTHER = "other"


def _split(name: str) -> tuple[str, str, str]:
    """(label, key, config type) of ``label.key[.config_type]``; ("", name, "") for a name without a dot."""
    parts = name.split(".")
    if len(parts) == 1:
        return "", name, ""
    return parts[0], parts[1], ".".join(parts[2:])


def _preferred(name: str, present: set[str]) -> tuple[str, str] | None:
    """(preferred value, why) when ``name`` is a variant of a value in ``present``; None for a canonical one."""
    label, key, config_type = _split(name)
    if not label:
        return None
    if config_type and f"{label}.{key}" in present:
        return f"{label}.{key}", "per-config-type variant of the whole-set value"
    words = key.split("_")
    if "mae" in words:
        rmse = f"{label}." + "_".join("rmse" if w == "mae" else w for w in words)
        if rmse in present:
            return rmse, "MAE variant: the RMSE is the canonical value"
    if key.startswith("energy_offset_removed_"):
        raw = f"{label}.energy_" + key.removeprefix("energy_offset_removed_")
        if raw in present:
            return raw, "energy with its offset removed: the raw energy RMSE is canonical (the seed study's)"
    if key in ("vector_rmse_ev_a", "vector_mae_ev_a") and f"{label}.re_f_ev_a" in present:
        return f"{label}.re_f_ev_a", "vector force error on the RE atoms: RE_F is the canonical force metric"
    if key.startswith("frac_"):
        for metric in ("re_m_ev_a", "re_a"):
            if f"{label}.{metric}" in present:
                return f"{label}.{metric}", "share above a cut-off: RE_M / RE_A integrate the same distribution"
    if key == "failed_frame_fraction" or re.fullmatch(r"n_[a-z0-9_]+", key):
        others = sorted(p for p in present if p.startswith(f"{label}.") and p != name)
        if others:
            return others[0], "bookkeeping value (failures, counts), not an accuracy value"
    return None


def canonical_values(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """(the canonical values of ``names`` in their order, dropped value -> reason naming its canonical value)."""
    present = set(names)
    kept: list[str] = []
    dropped: dict[str, str] = {}
    for name in names:
        choice = _preferred(name, present)
        if choice is None:
            kept.append(name)
        else:
            dropped[name] = f"{choice[1]} ({choice[0]})"
    return kept, dropped


def property_category(name: str) -> str:
    """The kind of property a value measures (for "which type does best per category"); ``other`` if unknown."""
    for pattern, category in CATEGORIES:
        if re.search(pattern, name):
            return category
    return OTHER
