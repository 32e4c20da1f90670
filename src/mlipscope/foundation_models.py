"""Foundation (universal, pretrained) models as calculators by name, each from its own optional extra.

Specs (``@cpu`` / ``@cuda`` / ``@auto`` at the end picks the device; default ``cpu``, reproducible everywhere):

- ``chgnet`` / ``chgnet:<version>`` (e.g. ``chgnet:0.3.0``): CHGNet (Deng et al. 2023), weights in the ``chgnet``
  wheel, loaded offline; ``pip install 'mlipscope[chgnet]'``. Test and rare-event sets are evaluated through
  CHGNet's batched prediction (:mod:`mlipscope.chgnet_batch`), the same values as frame by frame.
- ``sevennet`` / ``sevennet:<model>`` (default ``7net-0``; ``7net-l3i5``, ``7net-omat``, ... whatever the installed
  ``sevenn`` ships): SevenNet (Park et al. 2024). ``sevenn`` needs e3nn >= 0.5 and mace-torch pins e3nn 0.4.4, so
  it runs in the isolated ``sevennet`` environment behind a long-lived
  :class:`~mlipscope.models.worker.SubprocessCalculator` (``python -m mlipscope.models.environments sevennet``),
  or in this process when ``sevenn`` imports here.
- ``mace:<model file>``: any MACE model file (a MACE-MP/OMAT foundation checkpoint downloaded beforehand, or a
  fine-tuned one), float64, through ``mace.calculators.MACECalculator`` (``mlipscope[mace]``).

These models know most of the periodic table: :func:`mlipscope.calculators.calculator_species` reports None (not
checked) for them. Their energies are on the Materials Project PBE(+U) scale, which differs from a dataset's DFT
setting by a constant per atom: read the ``energy_offset_removed_*`` dataset errors for them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ase.calculators.calculator import Calculator

from mlipscope.errors import InputError

#: the foundation-model spec forms by prefix (the CLI help lists them)
SPEC_FORMS = {"chgnet": "chgnet[:<version>]", "sevennet": "sevennet[:<model>]", "mace": "mace:<file>"}
PREFIXES = tuple(SPEC_FORMS)
DEVICES = ("cpu", "cuda", "auto")
SEVENNET_DEFAULT = "7net-0"


def is_foundation_spec(spec: str) -> bool:
    head = spec.split("@", 1)[0].split(":", 1)[0].strip().lower()
    return head in PREFIXES and (head != "mace" or ":" in spec)


def split_spec(spec: str) -> tuple[str, str, str]:
    """``"sevennet:7net-0@cuda"`` -> ("sevennet", "7net-0", "cuda")."""
    body, _, device = spec.strip().partition("@")
    device = device.strip().lower() or "cpu"
    if device not in DEVICES:
        raise InputError(None, "calculator", f"a device suffix @{'/@'.join(DEVICES)}", got=spec)
    name, _, arg = body.partition(":")
    return name.strip().lower(), arg.strip(), _resolve_device(device, spec)


def _resolve_device(device: str, spec: str) -> str:
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise InputError(None, "calculator", "@cuda only where torch sees a CUDA GPU (use @cpu or @auto)", got=spec)
    return device


def make_foundation_calculator(spec: str) -> Calculator:
    name, arg, device = split_spec(spec)
    if name == "chgnet":
        return chgnet_calculator(arg or None, device, spec)
    if name == "sevennet":
        return sevennet_calculator(arg or SEVENNET_DEFAULT, device, spec)
    return mace_calculator(arg, device, spec)


def _missing(spec: str, module: str, extra: str) -> InputError:
    return InputError(
        None, "calculator", f"the '{module}' package for '{spec}': pip install 'mlipscope[{extra}]'", got=spec
    )


def chgnet_calculator(version: str | None, device: str, spec: str) -> Calculator:
    if importlib.util.find_spec("chgnet") is None:
        raise _missing(spec, "chgnet", "chgnet")
    from chgnet.model import CHGNet

    from mlipscope.chgnet_batch import BatchedCHGNetCalculator

    try:
        kwargs = {"model_name": version} if version else {}
        model = CHGNet.load(**kwargs, use_device=device, verbose=False)
    except Exception as exc:  # noqa: BLE001 - an unknown version is the user's spec, not a traceback
        raise InputError(None, "calculator", f"a CHGNet version the chgnet wheel ships ({exc})", got=spec) from None
    # batched prediction for fixed-geometry sets (mlipscope.properties.frames): most of a suite's cost
    return BatchedCHGNetCalculator(model=model, use_device=device, on_isolated_atoms="ignore")


def mace_calculator(model_file: str, device: str, spec: str) -> Calculator:
    if not model_file:
        raise InputError(None, "calculator", "mace:<path of a MACE model file>", got=spec)
    path = Path(model_file).expanduser()
    if not path.is_file():
        raise InputError(path, "calculator", "an existing MACE model file (e.g. a downloaded MACE-MP checkpoint)")
    if importlib.util.find_spec("mace") is None:
        raise _missing(spec, "mace", "mace")
    from mace.calculators import MACECalculator

    try:
        return MACECalculator(model_paths=str(path), device=device, default_dtype="float64")
    except Exception as exc:  # noqa: BLE001 - not a MACE model, or a broken file
        raise InputError(
            path, "calculator", f"a MACE model file torch can load ({type(exc).__name__}: {exc})"
        ) from None


def sevennet_calculator(model: str, device: str, spec: str) -> Calculator:
    from mlipscope import foundation_child

    try:
        if importlib.util.find_spec("sevenn") is not None:
            return foundation_child.sevennet_calculator(model, device)
    except Exception as exc:  # noqa: BLE001 - e.g. a model name the installed sevenn does not ship
        message = f"a SevenNet model sevenn ships ({type(exc).__name__}: {exc})"
        raise InputError(None, "calculator", message, got=spec) from None
    from mlipscope.models.environments import check_environment, find_python
    from mlipscope.models.worker import SubprocessCalculator, entry_of

    usable, why = check_environment("sevennet")
    if not usable:
        raise InputError(None, "calculator", f"SevenNet for '{spec}': {why}", got=spec)
    return SubprocessCalculator(
        find_python("sevennet"),
        entry_of(Path(foundation_child.__file__), "sevennet_calculator"),
        {"model": model, "device": device},
    )
