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
    assert "(skipped: see the notes)" in page and "No thresholds were given" in page
    assert "figures/distributions.png" in page
    assert not (tmp_path / "small" / "figures" / "pareto_front.png").exists()
