import numpy as np
import pytest

from mlipscope.analysis import AnalysisConfig, load_error_table, run_all
from mlipscope.analysis.synthetic import synthetic_error_table
from mlipscope.errors import InputError


@pytest.fixture(scope="module")
def table():
    frame = synthetic_error_table(240, 12, n_groups=3, within_group_r=0.9, seed=2)
    frame["mostly_failed.error"] = np.where(np.arange(240) % 2 == 0, np.nan, 1.0 + np.arange(240))
    frame["constant.error"] = 0.5
    frame.iloc[3, 6] = np.nan  # one failed evaluation in a kept property
    return load_error_table(frame)


def test_run_all_on_planted_groups(table):
    names = [n for n in table.properties if n.startswith("prop")]
    config = AnalysisConfig(
        thresholds={names[0]: 0.05, "absent.error": 1.0}, n_bootstrap=20, selection_metrics=[names[1]]
    )
    results = run_all(table, config, show_progress=False)
    assert set(results.dropped_properties) == {"mostly_failed.error", "constant.error"}
    assert results.table.properties == names
    assert any("absent.error" in note for note in results.notes)
    assert any("1 of 240 models" in note for note in results.notes)
    corr = results.correlation
    # three planted groups -> three components, one representative each
    assert [len(c) for c in corr.components] == [4, 4, 4]
    assert sorted(int(r.split("_g")[1][0]) for r in corr.representatives) == [0, 1, 2]
    assert results.pareto.objectives[:3] == corr.representatives
    assert results.pareto.n_dropped_nan == 1
    assert len(results.pareto.optimal) == 239
    assert results.prediction.n_models == 239
    assert (results.prediction.r2["r2_mean"] > 0.6).all()
    # prediction edges stay inside the planted groups
    for source, target in results.prediction.graph.edges:
        assert source.split("_g")[1] == target.split("_g")[1]
    assert results.thresholds.difficulty["property"].tolist() == [names[0]]
    assert names[1] in results.selection.by_metric
    assert results.clustering is not None and results.clustering.labels.index.isin(results.pareto.optimal.index).all()
    summary = results.summary()
    assert summary["models"] == 240 and summary["representative properties"] == 3
    assert set(results.timings_s) >= {"correlation graph", "Pareto fronts", "prediction graph"}


def test_bad_property_names_are_input_errors(table):
    with pytest.raises(InputError, match="analysis.properties"):
        run_all(table, AnalysisConfig(properties=["nope"]), show_progress=False)
    with pytest.raises(InputError, match="analysis.pareto_properties"):
        run_all(table, AnalysisConfig(pareto_properties=["nope", "nada"], n_bootstrap=0), show_progress=False)


def test_single_property_skips_graphs(table):
    results = run_all(table, AnalysisConfig(properties=[table.properties[0]]), show_progress=False)
    assert results.correlation is None and results.pareto is None and results.prediction is None
    assert results.distributions is not None and results.selection is not None


def test_type_column_from_config(table):
    results = run_all(table, AnalysisConfig(type_column="training_set_name", n_bootstrap=0), show_progress=False)
    assert results.table.type_names == ["original", "vacancy_enhanced"]
    assert set(results.pareto.quality["type"]) == {"original", "vacancy_enhanced"}
    with pytest.raises(InputError, match="analysis.type_column"):
        run_all(table, AnalysisConfig(type_column="nope"), show_progress=False)


def test_models_without_any_result_do_not_drop_properties(table):
    errors = table.errors.copy()
    errors.iloc[:80] = np.nan  # a third of the models failed to fit: all-NaN rows
    failed_fits = type(table)(errors, table.metadata, table.types, table.source)
    results = run_all(failed_fits, AnalysisConfig(n_bootstrap=0), show_progress=False)
    assert len(results.table.errors) == 160
    assert set(results.dropped_properties) == {"mostly_failed.error", "constant.error"}
    assert any("80 models with no successful evaluation" in note for note in results.notes)


def test_seven_models_give_no_correlation_edges_and_say_why():
    """Few models: unrelated properties pass r² > 0.6 by chance, so no graph, no Lasso, no clustering, no verdict;
    each says why (notes, skipped, summary)."""
    from mlipscope.analysis.synthetic import suite_like_error_table

    table = load_error_table(suite_like_error_table({"ace": 4, "snap": 3}, seed=2), type_column="type")
    results = run_all(table, AnalysisConfig(type_column="type", n_bootstrap=20), show_progress=False)
    assert results.correlation is None and results.type_graphs is None
    assert "7 models" in results.skipped["correlation graph"]
    assert "min_models_correlation" in results.skipped["correlation graph"]
    assert any(n.startswith("correlation graph not computed: 7 models") for n in results.notes)
    assert "prediction graph" in results.skipped and "clustering" in results.skipped
    assert "min_models_selection" in results.skipped["selection verdict"]
    assert results.selection.comparison is None and results.selection.metric_summary.empty
    summary = results.summary()
    assert "not computed" in summary["correlation graph"]
    assert not any(key.startswith("correlation edges") for key in summary)
    assert results.findings.trade_offs.empty and "min_models_correlation" in results.findings.notes["trade-offs"]
    assert (results.findings.best_by_category["best_type"] == "").all()  # no type has 10 members
    assert results.pareto.quality["too_few_members"].all() and results.pareto.quality["hv_rank"].isna().all()


def test_minimum_sizes_come_from_the_config():
    from mlipscope.analysis.synthetic import suite_like_error_table

    table = load_error_table(suite_like_error_table({"ace": 4, "snap": 3}, seed=2), type_column="type")
    config = AnalysisConfig(type_column="type", n_bootstrap=0, min_models_correlation=5, min_type_members=3)
    results = run_all(table, config, show_progress=False)
    assert results.correlation is not None and "correlation graph" not in results.skipped
    assert not results.pareto.quality["too_few_members"].any()


def test_per_type_graphs_and_summary_of_a_mixed_ensemble():
    from mlipscope.analysis.synthetic import suite_like_error_table

    table = load_error_table(suite_like_error_table({"ace": 30, "snap": 25, "pod": 5}, seed=1), type_column="type")
    results = run_all(table, AnalysisConfig(type_column="type", n_bootstrap=20), show_progress=False)
    graphs = results.type_graphs
    assert sorted(graphs.graphs) == ["ace", "snap"] and "pod" in graphs.skipped
    assert {"r_ace", "r_snap", "kind", "r_differs"} <= set(graphs.comparison.columns)
    assert "pod (5, too few members)" in results.summary()["MLIP types (members)"]
    quality = results.pareto.quality.set_index("type")
    assert quality.loc["pod", "too_few_members"] and np.isnan(quality.loc["pod", "hv_rank"])
    assert (quality.loc[["ace", "snap"], "subsample_size"] == 25).all()
