import pytest

from mlipscope.analysis import AnalysisConfig, load_error_table, run_all
from mlipscope.analysis.synthetic import synthetic_error_table


@pytest.fixture(scope="session")
def small_results():
    table = load_error_table(synthetic_error_table(150, 9, n_groups=3, seed=4))
    names = table.properties
    config = AnalysisConfig(
        thresholds={n: 0.1 for n in names[:4]}, n_bootstrap=10, selection_metrics=[names[0]], null_repeats=1
    )
    return run_all(table, config, show_progress=False)


@pytest.fixture(scope="session")
def degenerate_results():
    table = load_error_table(synthetic_error_table(20, 2, n_groups=1, seed=5))
    return run_all(table, AnalysisConfig(properties=[table.properties[0]]), show_progress=False)
