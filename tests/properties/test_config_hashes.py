"""Property configuration hashes are part of stored evaluation keys: every suite of every shipped material (in
its order), every property class with its defaults and the examples' overrides hash as they did before the
properties were refactored (``data/config_hashes.json``, written by ``data/make_config_hashes.py``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _generator():
    spec = importlib.util.spec_from_file_location("make_config_hashes", DATA / "make_config_hashes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_hashes_and_suite_order_unchanged():
    expected = json.loads((DATA / "config_hashes.json").read_text())
    current = _generator().collect()
    changed = {k: (v, current.get(k)) for k, v in expected.items() if current.get(k) != v}
    assert not changed, f"stored keys would change (fixture, now): {changed}"
    # new families may add entries; the recorded ones keep their order
    assert [k for k in current if k in expected] == list(expected), "suite entries are in another order"
