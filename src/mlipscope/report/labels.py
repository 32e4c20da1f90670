"""Units and readable names of value names, for the report's table headers and figure labels.

A value name is ``<property label>.<key>`` (:mod:`mlipscope.properties`), and every key carries its unit as a suffix
(``_ev``, ``_gpa``, ``_ev_a``, ``_j_m2``...): the unit the property declares for it. :func:`value_unit` reads the
unit back from the suffix (a store's declared units, when given, win). A published study's own keys (Liu & Mo 2024:
``hex_Ef``, ``super_c11``, ...) get the unit and mlipscope value their mapping file names
(``package_data/reference/liu_mo_2024_mapping.yaml``). :func:`display_name` turns a name into a short label a person
can read: ``elastic_perfect.c11_gpa`` -> ``perfect C11 (GPa)``, ``vacancy_64.formation_energy_ev`` ->
``vacancy 64 formation energy (eV)``; :func:`wrap_label` breaks one over lines for a graph node.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping
from functools import cache

from mlipscope.materials import reference_dir
from mlipscope.properties.references import load_study_mapping

DIMENSIONLESS = "1"  # the unit the properties declare for a ratio, share, count or score
STUDY_MAPPING = "liu_mo_2024_mapping.yaml"

# key suffix -> unit, as the properties declare them; the longest matching suffix wins
UNIT_SUFFIXES: dict[str, str] = {
    "_mev_atom_ps": "meV/atom/ps",
    "_per_atom_ps": "1/(atom·ps)",
    "_mev_atom": "meV/atom",
    "_ev_per_atom": "eV/atom",
    "_ev_atom": "eV/atom",
    "_ev_a": "eV/Å",
    "_ev": "eV",
    "_gpa": "GPa",
    "_j_m2": "J/m²",
    "_thz": "THz",
    "_a3_per_atom": "Å³/atom",
    "_a3": "Å³",
    "_a2": "Å²",
    "_a": "Å",
    "_w_mk": "W/(m·K)",
    "_j_k_mol": "J/(K mol)",
    "_ppm_k": "10⁻⁶/K",
    "_k": "K",
    "_cm2_s": "cm2/s",
    "_kb": "k_B",
    "_deg": "°",
    "_ps": "ps",
    "_fs": "fs",
    "_s": "s",
    "_pct": "%",
    "_percent": "%",
}
_SUFFIXES = sorted(UNIT_SUFFIXES, key=len, reverse=True)
# keys without a unit suffix that are dimensionless (re_a ends in "_a" but is a normalised area, not Å)
_DIMENSIONLESS_KEYS = re.compile(
    r"re_a|kendall_tau|n_.+|frac_.+|.+_fraction|.+_ratio(_.+)?|.+_p_value|wall_monotonic|force_sign_changes|"
    r"first_peak_height|rdf_rms_difference|unphysical|.+_consistent"
)
_DIFFUSIVITY_KEY = re.compile(r"d_\d+k")  # diffusivity at a temperature (diffusion.py): cm²/s

# quantity (key without its unit suffix) -> its readable form
_QUANTITIES = {
    "re_f": "RE_F",
    "re_m": "RE_M",
    "re_a": "RE_A",
    "activation_energy": "Ea",
    "activation_energy_stderr": "Ea stderr",
    "log10_prefactor": "log10 D0",
    "alpha_300k": "α(300 K)",
    "alpha_min": "min α",
    "t_alpha_min": "T at min α",
    "kappa_300k": "κ(300 K)",
    "kappa_ratio_600k_300k": "κ(600 K)/κ(300 K)",
    "energy_offset_removed_rmse": "energy RMSE, offset removed",
    "energy_offset_removed_mae": "energy MAE, offset removed",
    "nve_drift": "NVE drift",
    "r_min": "r_min",
    "stable_up_to": "stable up to T",
    "frac_df_gt_0p5": "share δF > 0.5 eV/Å",
    "frac_dtheta_gt_15": "share δθ > 15°",
    "frac_dtheta_gt_30": "share δθ > 30°",
}
_WORDS = {"rmse": "RMSE", "mae": "MAE", "usf": "USF", "isf": "ISF", "neb": "NEB", "md": "MD", "rdf": "RDF"}
_PHONON_POINTS = {"gamma": "Γ"}
# property label -> context: (regular expression, replacement), first match wins
_CONTEXTS: tuple[tuple[str, str], ...] = (
    (r"^elastic_(.+)$", r"\1"),
    (r"^errors_(.+)$", r"\1"),
    (r"^re_(.+)$", r"RE \1"),
    (r"^migration_(.+)$", r"\1 migration"),
    (r"^diffusion_(.+)$", r"\1 diffusion"),
    (r"^surface_(\d+)$", r"(\1)"),
    (r"^phonons_perfect$", "phonon"),
    (r"^phonons_(.+)$", r"\1 phonon"),
    (r"^eos$", "EOS"),
    (r"^md_survival$", "MD"),
    (r"^(stacking_faults|thermal_expansion|thermal_conductivity|melting_point)$", ""),
)


@cache
def _study_entries() -> dict[str, tuple[str | None, str]]:
    """Study key -> (mlipscope value name or None, the study's unit) of the shipped study mapping."""
    return {e.key: (e.value_name, e.unit) for e in load_study_mapping(reference_dir() / STUDY_MAPPING)}


def _study_unit(unit: str) -> str:
    """The mapping's unit text as a unit: "eV/atom (probably)" -> "eV/atom?", "not stated" -> ""."""
    text = unit.strip()
    if text.startswith("not stated"):
        rest = text.removeprefix("not stated").strip(" ,").removeprefix("probably").strip()
        return f"{rest}?" if rest else ""
    if text.endswith("(probably)"):
        return text.removesuffix("(probably)").strip() + "?"
    return text


def key_unit(key: str) -> str:
    """Unit of a property's value key from its suffix ("1" for a known dimensionless key, "" when unknown)."""
    if _DIMENSIONLESS_KEYS.fullmatch(key):
        return DIMENSIONLESS
    if _DIFFUSIVITY_KEY.fullmatch(key):
        return "cm2/s"
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            unit = UNIT_SUFFIXES[suffix]
            return f"log10({unit})" if key.startswith("log10_") else unit
    return ""


def _split(name: str) -> tuple[str, str, list[str]]:
    """(label, key, qualifiers) of ``label.key[.qualifier...]``: the key is the first part after the label with a
    known unit (a dimer's ``dimer.Si-Si.r_min_a`` has its pair before the key, a dataset's per-config-type value
    ``errors_x.force_rmse_ev_a.bulk`` its config type after it), else the second part."""
    parts = name.split(".")
    if len(parts) == 1:
        return "", name, []
    rest = parts[1:]
    at = next((i for i, part in enumerate(rest) if key_unit(part)), 0)
    return parts[0], rest[at], rest[:at] + rest[at + 1 :]


def value_unit(name: str, declared: Mapping[str, str] | None = None) -> str:
    """Unit of a value name: the ``declared`` one (value name -> unit, e.g. a store's) when given, a study key's
    from its mapping, else from the key's suffix. "1": dimensionless; "": unknown."""
    if declared and declared.get(name):
        return declared[name]
    if name in _study_entries():
        return _study_unit(_study_entries()[name][1])
    return key_unit(_split(name)[1])


def _quantity(key: str, unit: str) -> str:
    stem = key
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) and not _DIMENSIONLESS_KEYS.fullmatch(key):
            stem = key[: -len(suffix)]
            break
    if stem in _QUANTITIES:
        return _QUANTITIES[stem]
    words = stem.split("_")
    if unit == "THz":  # <point>_<branch>_thz: Γ LTO, X TA, L LA
        words = [_PHONON_POINTS.get(w, w.upper() if len(w) <= 3 else w) for w in words]
    words = [w.upper() if re.fullmatch(r"c\d\d", w) else _WORDS.get(w, w) for w in words]
    return " ".join(words)


def _context(label: str) -> str:
    for pattern, replacement in _CONTEXTS:
        if re.match(pattern, label):
            return re.sub(pattern, replacement, label).replace("_", " ").strip()
    return label.replace("_", " ")


def display_parts(name: str, declared: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(readable name without unit, unit shown: "" for dimensionless or unknown) of a value name or study key."""
    unit = value_unit(name, declared)
    shown_unit = "" if unit == DIMENSIONLESS else unit
    if name in _study_entries():
        mapped, _ = _study_entries()[name]
        shared = sum(value == mapped for value, _ in _study_entries().values()) > 1
        # a value several study keys map to (the vacancy- and interstitial-enhanced sets) keeps the key's words
        text = display_parts(mapped)[0] if mapped and not shared else name.replace("_", " ")
        return text, shown_unit
    label, key, qualifiers = _split(name)
    if not unit and key not in _QUANTITIES:
        return name, ""  # not a value name mlipscope knows (a user's own column): shown as written
    quantity = _quantity(key, unit)
    context = " ".join([_context(label), *(q.replace("_", " ") for q in qualifiers)]).strip() if label else ""
    if context and quantity.lower().startswith(context.lower()):
        context = ""  # melting_point.melting_point_k: "melting point", not "melting point melting point"
    if quantity.startswith("RE_"):
        context = context.removeprefix("RE ")  # re_vacancy.re_f_ev_a: "vacancy RE_F", not "RE vacancy RE_F"
    if shown_unit.startswith("log10(") and quantity.startswith("log10 "):
        shown_unit = shown_unit.removeprefix("log10(").removesuffix(")")  # "log10 D0 (cm2/s)"
    return (f"{context} {quantity}" if context else quantity), shown_unit


def display_name(name: str, declared: Mapping[str, str] | None = None) -> str:
    """Readable name with its unit: ``elastic_perfect.c11_gpa`` -> ``perfect C11 (GPa)``."""
    text, unit = display_parts(name, declared)
    return f"{text} ({unit})" if unit else text


def wrap_label(text: str, width: int = 16) -> str:
    """``text`` over lines of about ``width`` characters (a graph node's label); the unit stays on one line."""
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)) or text


def column_units(columns: Iterable[object]) -> dict[str, str]:
    """Column -> unit of the columns whose names are value names or keys with a unit (``median_abs_ea_error_ev``,
    ``md_survival.stable_up_to_k``), for :func:`mlipscope.report.tables.html_table`'s ``units``."""
    out = {}
    for column in map(str, columns):
        unit = value_unit(column)
        if unit and unit != DIMENSIONLESS:
            out[column] = unit
    return out


def error_label(name: str) -> str:
    """Axis label of a value's |error|: ``perfect C11 |error| (GPa)``."""
    text, unit = display_parts(name)
    return f"{text} |error| ({unit})" if unit else f"{text} |error|"
