"""The report's findings come first, carry intervals and n, and say why a section is empty."""

import numpy as np
import pandas as pd
import pytest

from mlipscope.analysis import AnalysisConfig, load_error_table, run_all
from mlipscope.analysis.synthetic import SUITE_VALUES, suite_like_error_table
from mlipscope.report import write_report


def _results(sizes: dict[str, int], seed: int):
    frame = suite_like_error_table(sizes, seed=seed)
    thresholds = {k: float(np.median(np.abs(frame[k]))) for k in list(SUITE_VALUES)[:8]}
    thresholds["errors_mlearn_test.force_mae_ev_a"] = 0.05  # a variant keeps its row in the difficulty table
    sources = dict.fromkeys(thresholds, "median of the synthetic errors")
    config = AnalysisConfig(type_column="type", thresholds=thresholds, threshold_sources=sources, n_bootstrap=30)
    return run_all(load_error_table(frame, type_column="type"), config, show_progress=False)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    results = _results({"ace": 30, "snap": 25, "pod": 5}, 1)
    out = tmp_path_factory.mktemp("mixed")
    return results, write_report(results, out).read_text(), out


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    results = _results({"ace": 4, "snap": 3}, 2)
    out = tmp_path_factory.mktemp("seven")
    return results, write_report(results, out).read_text(), out


def test_findings_come_first_with_intervals_and_n(mixed):
    results, page, out = mixed
    assert page.index('id="findings"') < page.index('id="summary"') < page.index('id="difficulty"')
    findings = page[page.index('id="findings"') : page.index('id="summary"')]
    assert "60 models</b> of 3 MLIP types" in findings and "pod 5 (too few members)" in findings
    hardest = results.findings.hardest.iloc[0]
    assert hardest["property"] in findings and "[95 % CI]" in findings
    assert f"{100 * hardest['share_ci_low']:.0f}, {100 * hardest['share_ci_high']:.0f}]" in findings
    assert "median of the synthetic errors" in findings
    assert "pod (5)" in findings  # named as too few in the best-type table, never the best
    assert not (results.findings.best_by_category["best_type"] == "pod").any()
    for rep in results.correlation.representatives:
        assert rep in findings
    assert "Main trade-offs" in findings and "r = " in findings
    best = pd.read_csv(out / "tables" / "findings_best_type.csv")
    assert {"best_ci_low", "advantage_ci_low", "verdict", "too_few_members"} <= set(best.columns)


def test_tables_carry_intervals_and_too_few_marks(mixed):
    results, page, out = mixed
    shares = pd.read_csv(out / "tables" / "pass_share_intervals.csv")
    assert {"n_models", "ci_low", "ci_high", "too_few_members", "rank"} <= set(shares.columns)
    assert shares.loc[shares["type"] == "pod", "too_few_members"].all()
    assert shares.loc[shares["type"] == "pod", "rank"].isna().all()
    difficulty = pd.read_csv(out / "tables" / "difficulty.csv")
    assert {"share_ci_low", "share_ci_high", "n_models"} <= set(difficulty.columns)
    assert "errors_mlearn_test.force_mae_ev_a" in set(difficulty["property"])
    quality = pd.read_csv(out / "tables" / "pareto_quality.csv").set_index("type")
    assert quality.loc["pod", "too_few_members"] and np.isnan(quality.loc["pod", "hv_rank"])
    assert quality.loc["ace", "hv_ci_low"] <= quality.loc["ace", "hv_median"] <= quality.loc["ace", "hv_ci_high"]
    canonical = pd.read_csv(out / "tables" / "canonical_values.csv").set_index("property")
    assert (
        canonical["canonical"].sum() == len(SUITE_VALUES)
        and "MAE" in canonical.loc["errors_mlearn_test.force_mae_ev_a", "reason"]
    )
    by_type = pd.read_csv(out / "tables" / "correlation_by_type.csv")
    assert {"r_ace", "r_snap", "p_r_differs"} <= set(by_type.columns) and "r_pod" not in by_type.columns
    r2 = pd.read_csv(out / "tables" / "prediction_r2.csv")
    assert {"r2_ci_low", "r2_ci_high", "n_test_models"} <= set(r2.columns)
    verdict = pd.read_csv(out / "tables" / "selection_verdict.csv")
    assert {"diff_ci_low", "diff_ci_high", "n_models", "verdict"} <= set(verdict.columns)
    assert "Correlation graph per MLIP type" in page and "Share within threshold per MLIP type" in page
    assert "pod (n=5, too few members)" in page


def test_seven_models_report_says_why_instead_of_numbers(seven):
    results, page, out = seven
    assert results.correlation is None
    assert not (out / "tables" / "correlation_edges.csv").exists()
    assert not (out / "figures" / "correlation_graph.png").exists()
    assert "7 models, fewer than the 20 it needs" in page
    findings = page[page.index('id="findings"') : page.index('id="summary"')]
    assert "No type is ranked" in findings and "No correlation statements" in findings
    assert "No verdict: 7 models" in findings
    skipped = pd.read_csv(out / "tables" / "skipped_analyses.csv").set_index("analysis")["reason"]
    assert {"correlation graph", "prediction graph", "clustering", "selection verdict"} <= set(skipped.index)
    assert "correlation edges" not in page
