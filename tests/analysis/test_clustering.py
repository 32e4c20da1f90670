import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from mlipscope.analysis.clustering import cluster_models


def test_planted_blobs_and_the_hyperparameter_that_makes_them():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0, 0], [4, 4, 0, 0], [0, 0, 4, 4]], dtype=float)
    blob = np.repeat([0, 1, 2], 40)
    values = pd.DataFrame(centres[blob] + 0.4 * rng.normal(size=(120, 4)), columns=list("pqrs"))
    values.index = [f"m{i}" for i in range(120)]
    metadata = pd.DataFrame(
        {"hp.basis": np.array(["a", "b", "c"])[blob], "hp.noise": rng.normal(size=120)}, index=values.index
    )
    result = cluster_models(values, metadata, seed=0)
    assert adjusted_rand_score(blob, result.labels) == pytest.approx(1.0)
    assert sorted(result.sizes.tolist()) == [40, 40, 40]
    assert result.modularity > 0.5
    for _, row in result.explanation.iterrows():
        members = result.labels[result.labels == row["community"]].index
        letter = metadata.loc[members, "hp.basis"].iloc[0]
        assert row["top_features"].startswith(f"hp.basis={letter}")
        assert row["balanced_accuracy"] == pytest.approx(1.0)
        coefs = result.coefficients.loc[row["community"]]
        assert abs(coefs["hp.noise"]) < abs(coefs[f"hp.basis={letter}"])


def test_too_few_models():
    values = pd.DataFrame(np.ones((3, 2)))
    assert cluster_models(values, pd.DataFrame(index=values.index)) is None
