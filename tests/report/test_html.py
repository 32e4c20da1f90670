import re
from html.parser import HTMLParser

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


class _Tables(HTMLParser):
    """Every sortable table of a page: its header texts and its rows' cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "sortable") in attrs:
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("th", "td") and self.tables:
            self._cell = []

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None and self.tables:
            text = "".join(self._cell).strip()
            table = self.tables[-1]
            (table["headers"] if tag == "th" else table["rows"][-1]).append(text)
            self._cell = None


def _tables(page: str) -> list[dict]:
    parser = _Tables()
    parser.feed(page)
    for table in parser.tables:
        table["rows"] = [r for r in table["rows"] if r]
    return parser.tables


def _numeric(cells: list[str]) -> bool:
    filled = [c for c in cells if c not in ("", "—")]
    try:
        [float(c) for c in filled]
    except ValueError:
        return False
    return bool(filled)


# a unit in the header's last parentheses ("in unit": each row's, from the table's unit column)
UNIT_IN_HEADER = re.compile(r"\((in unit|%|percentile|[^()]*(?<![A-Za-z])(eV|Å|GPa|THz|J|K|s)\b[^()]*)\)$")
# dimensionless by design: counts, ranks, correlations, shares, scores, scaled front indicators, ratios
DIMENSIONLESS = re.compile(
    r"(^|[ _])(n|rank|r|r2|confidence|pagerank|size|values|community|accuracy|hypervolume|igd|hv|percentile|"
    r"score|failed|met)($|[ _])|^(r|p)_|^share_|^missing_values$| / "
)


def test_every_numeric_column_of_every_table_has_a_unit_or_is_dimensionless(tmp_path, suite_results):
    index = write_report(suite_results, tmp_path / "rep", title="units")
    pages = {"index.html": index.read_text()}
    model_page = sorted((tmp_path / "rep" / "models").glob("*.html"))[0]
    pages[model_page.name] = model_page.read_text()
    checked, in_row_unit = 0, 0
    for page_name, page in pages.items():
        for table in _tables(page):
            headers, rows = table["headers"], table["rows"]
            for i, header in enumerate(headers):
                if not _numeric([r[i] for r in rows if i < len(r)]):
                    continue
                checked += 1
                assert UNIT_IN_HEADER.search(header) or DIMENSIONLESS.search(header), (page_name, header, headers)
                if header.endswith("(in unit)"):
                    in_row_unit += 1
                    assert "unit" in headers, (page_name, header, headers)
    assert checked > 40 and in_row_unit >= 8
    # the unit column holds each value's unit (written out here, not read from the code's suffix table)
    expected = {
        "errors_mlearn_test.energy_rmse_mev_atom": "meV/atom",
        "errors_mlearn_test.force_rmse_ev_a": "eV/Å",
        "re_vacancy.re_f_ev_a": "eV/Å",
        "re_vacancy.re_a": "1",
        "eos.bulk_modulus_gpa": "GPa",
        "elastic_perfect.c44_gpa": "GPa",
    }
    difficulty = next(t for t in _tables(pages["index.html"]) if t["headers"][:3] == ["rank", "property", "unit"])
    units = {r[1]: r[2] for r in difficulty["rows"]}
    thresholded = set(suite_results.thresholds.difficulty["property"])
    assert {n: u for n, u in expected.items() if n in thresholded} == {n: units[n] for n in expected if n in units}
    assert len(set(expected) & thresholded) >= 4
