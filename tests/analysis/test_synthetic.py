import numpy as np
import pytest

from mlipscope.analysis.synthetic import synthetic_error_table


def test_planted_group_correlation():
    table = synthetic_error_table(3000, 6, n_groups=2, within_group_r=0.8, types=("one",), seed=1)
    logs = np.log10(table.iloc[:, 4:])
    corr = logs.corr().to_numpy()
    # group 0: columns 0, 2, 4 (factor 0 also carries the cutoff shift, so r is a little higher)
    assert corr[1, 3] == pytest.approx(0.8, abs=0.03)
    assert corr[0, 2] > 0.8
    assert abs(corr[0, 1]) < 0.06
    assert table.index.is_unique and list(table.columns[:2]) == ["family", "training_set_name"]
