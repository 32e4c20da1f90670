import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis.distributions import summarize_distributions


def test_quantiles_per_type_match_numpy():
    rng = np.random.default_rng(1)
    values = pd.DataFrame({"p": rng.normal(size=40), "q": rng.normal(size=40)})
    values.loc[3, "p"] = np.nan
    types = pd.Series(["a"] * 25 + ["b"] * 15)
    summary = summarize_distributions(values, types, "log10").summary.set_index(["property", "type"])
    a_values = values.loc[types == "a", "p"].dropna().to_numpy()
    row = summary.loc[("p", "a")]
    assert row["n"] == 24 and row["n_failed"] == 1
    assert row["median"] == pytest.approx(np.median(a_values))
    assert row["q25"] == pytest.approx(np.quantile(a_values, 0.25))
    assert summary.loc[("q", "all"), "max"] == pytest.approx(values["q"].max())
