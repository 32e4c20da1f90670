import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis import transforms
from mlipscope.errors import InputError


def _errors() -> pd.DataFrame:
    return pd.DataFrame({"a": [0.1, -1.0, 10.0, np.nan], "b": [0.0, 0.02, 0.2, 2.0]})


def test_log10_of_magnitude_and_zero_floor():
    out = transforms.log10(_errors())
    np.testing.assert_allclose(out["a"].to_numpy()[:3], [-1.0, 0.0, 1.0])
    assert np.isnan(out.loc[3, "a"])
    # the exact zero sits one decade below the smallest non-zero error (0.02 -> 0.002)
    assert out.loc[0, "b"] == pytest.approx(np.log10(0.002))


def test_zlog10_is_standardised_log():
    raw = _errors()
    out = transforms.zlog10(raw)
    logs = np.log10(np.abs(raw["a"].to_numpy()[:3]))
    expected = (logs - logs.mean()) / logs.std()
    np.testing.assert_allclose(out["a"].to_numpy()[:3], expected)
    assert out["b"].mean() == pytest.approx(0.0, abs=1e-12)
    assert out["b"].std(ddof=0) == pytest.approx(1.0)


def test_constant_column_becomes_nan():
    out = transforms.zscore(pd.DataFrame({"c": [1.0, 1.0, 1.0]}))
    assert out["c"].isna().all()


def test_relative_needs_reference_values():
    out = transforms.apply("relative", _errors(), {"a": -2.0, "b": 4.0})
    assert out.loc[1, "a"] == pytest.approx(0.5) and out.loc[3, "b"] == pytest.approx(0.5)
    with pytest.raises(InputError, match="reference_values.b"):
        transforms.apply("relative", _errors(), {"a": 2.0})
