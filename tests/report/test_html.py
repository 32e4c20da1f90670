import pandas as pd

from mlipscope.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_files_figures_and_tables(tmp_path, small_results):
    summary = {"n_models_planned": 150, "n_fits_failed": 2, "failure_reasons": {"eos: <exploded>": 3}}
    index = write_report(small_results, tmp_path / "rep", title="Si <ensemble>", run_summary=summary)
    page = index.read_text()
    assert index.name == "index.html"
    assert "<title>Si &lt;ensemble&gt;</title>" in page
    assert "eos: &lt;exploded&gt;" in page and "n_fits_failed" in page
    images = [part.split('"')[0] for part in page.split('<img src="')[1:]]
    assert {
        "figures/difficulty.png",
        "figures/pareto_front.png",
        "figures/correlation_graph.png",
        "figures/prediction.png",
        "figures/distributions.png",
    } <= set(images)
    for image in images:
        assert (tmp_path / "rep" / image).read_bytes()[:8] == PNG_MAGIC
    difficulty = pd.read_csv(tmp_path / "rep" / "tables" / "difficulty.csv")
    expected = small_results.thresholds.difficulty
    assert difficulty["property"].tolist() == expected["property"].tolist()
    assert difficulty["share_meeting"].tolist() == expected["share_meeting"].tolist()
    for rep in small_results.correlation.representatives:
        assert rep in page
    links = [part.split('"')[0] for part in page.split('<a href="')[1:] if part.startswith("tables/")]
    assert links and all((tmp_path / "rep" / link).is_file() for link in links)


def test_report_of_degenerate_analysis(tmp_path, degenerate_results):
    index = write_report(degenerate_results, tmp_path / "small", title="tiny")
    page = index.read_text()
    assert "(skipped: needs at least 2 properties)" in page and "No thresholds were given" in page
    assert "figures/distributions.png" in page
    assert not (tmp_path / "small" / "figures" / "pareto_front.png").exists()


def test_report_shows_threshold_sources_cheaper_dft_and_selection_comparison(tmp_path, small_results):
    names = small_results.table.properties
    cheaper = pd.DataFrame(
        {
            "value": [names[0], names[0]],
            "setting": ["Γ-only", "2×2×2"],
            "error": [0.17, 0.04],
            "threshold": [True, False],
            "source": ["computed", "computed"],
        }
    )
    index = write_report(small_results, tmp_path / "rep", title="t", cheaper_dft=cheaper)
    page = index.read_text()
    assert "Acceptable errors from cheaper DFT" in page and "Used as thresholds: Γ-only" in page
    assert "Share within threshold per MLIP type" in page
    for type_name in small_results.table.type_names:
        assert type_name in page
    assert "Selecting by rare-event metrics vs by force RMSE" in page
    comparison = pd.read_csv(tmp_path / "rep" / "tables" / "selection_comparison.csv")
    assert set(comparison["metric"]) == {"all models", names[0]}
    assert pd.read_csv(tmp_path / "rep" / "tables" / "cheaper_dft.csv")["error"].tolist() == [0.17, 0.04]
    assert "source" in pd.read_csv(tmp_path / "rep" / "tables" / "difficulty.csv").columns


def test_report_lists_the_values_without_an_acceptable_error(tmp_path, small_results):
    index = write_report(small_results, tmp_path / "rep", title="t")
    text = index.read_text()
    unjudged = small_results.thresholds.unjudged
    assert unjudged and len(unjudged) == len(small_results.table.errors.columns) - 4
    assert f"{len(unjudged)} values have no acceptable error" in text
    for name in unjudged:
        assert f"<code>{name}</code>" in text
