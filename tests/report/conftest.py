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


@pytest.fixture(scope="session")
def suite_results():
    """Results of an error table with the Si suite's value names (units in their keys), thresholds on the first
    eight and a selection comparison."""
    from mlipscope.analysis.synthetic import suite_like_error_table

    table = load_error_table(suite_like_error_table(seed=1), type_column="type")
    config = AnalysisConfig(
        thresholds={n: 0.1 for n in table.properties[:8]},
        n_bootstrap=10,
        selection_metrics=["re_vacancy.re_f_ev_a"],
        null_repeats=1,
    )
    return run_all(table, config, show_progress=False)
