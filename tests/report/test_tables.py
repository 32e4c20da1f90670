import pandas as pd

from mlipscope.report.tables import analysis_tables, export_tables


def test_tables_round_trip(tmp_path, small_results):
    written = export_tables(small_results, tmp_path / "tables")
    assert set(written) == set(analysis_tables(small_results))
    pearson = pd.read_csv(tmp_path / "tables" / "correlation_pearson.csv", index_col=0)
    pd.testing.assert_frame_equal(pearson, small_results.correlation.pearson, check_names=False, atol=1e-12)
    counts = pd.read_csv(tmp_path / "tables" / "pareto_count_vs_k.csv")
    assert counts["k"].tolist() == small_results.pareto.count_vs_k["k"].tolist()
    members = pd.read_csv(tmp_path / "tables" / "cluster_members.csv", index_col=0)
    assert members["community"].to_dict() == small_results.clustering.labels.to_dict()
