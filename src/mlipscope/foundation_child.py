"""Calculator factories the isolated environments of foundation models run (loaded by file path in
:mod:`mlipscope.models.worker_child`, so this module imports nothing from mlipscope)."""

from __future__ import annotations


def sevennet_calculator(model: str, device: str = "cpu"):
    """SevenNet's ASE calculator for a model the installed ``sevenn`` ships (e.g. ``7net-0``)."""
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator(model=model, device=device)
