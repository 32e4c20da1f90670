import html
import re

import pandas as pd

from mlipscope.report.difficulty_section import difficulty_section, difficulty_table
from mlipscope.report.labels import value_unit
from mlipscope.report.tables import LONG_RUN

CELL = re.compile(r'<t([hd])(?: class="([^"]*)")?>(.*?)</t[hd]>')
MAX_COLUMN_CH = 24  # widest unbreakable text a column may need


def _first_table(section: str) -> list[list[tuple[str, str]]]:
    """Rows of the first table: (classes, text) per cell."""
    table = section[section.index("<table") : section.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    return [[(cls, html.unescape(re.sub(r"<[^>]+>", "", inner))) for _, cls, inner in CELL.findall(r)] for r in rows]


def test_the_difficulty_table_fits_the_page(suite_results):
    units = {n: value_unit(n) for n in suite_results.table.properties}
    section = difficulty_section(suite_results, {}, {}, None, units)
    assert section.count('<div class="table-wrap"><table') >= 2  # ranking and per-type tables scroll sideways
    rows = _first_table(section)
    headers = [text for _, text in rows[0]]
    assert headers[:3] == ["rank", "property", "unit"] and len(headers) <= 11
    assert max(len(h) for h in headers) <= 26
    for column in range(len(headers)):
        # the widest text the column must show on one line: long value names wrap (class "long")
        widest = max(
            0 if "long" in row[column][0].split() else max(len(w) for w in row[column][1].split() or [""])
            for row in rows
        )
        assert widest <= MAX_COLUMN_CH, (headers[column], widest)
    long_cells = [(cls, text) for row in rows for cls, text in row if any(len(w) > LONG_RUN for w in text.split())]
    assert long_cells and all("long" in cls.split() for cls, _ in long_cells)
    # three significant digits, the values of the analysis
    th = suite_results.thresholds.difficulty
    shown = {row[1][1]: row for row in rows[1:]}
    for name, threshold, median in th[["property", "threshold", "median_error"]].to_numpy():
        assert shown[name][headers.index("threshold (in unit)")][1] == f"{threshold:.3g}"
        assert shown[name][headers.index("median |error| (in unit)")][1] == f"{median:.3g}"


def test_difficulty_table_keeps_the_ranking_with_units_and_share_intervals(suite_results):
    th = suite_results.thresholds
    frame = difficulty_table(th, {"errors_mlearn_test.force_rmse_ev_a": "eV/Å"})
    assert frame["property"].tolist() == th.difficulty["property"].tolist()
    units = dict(zip(frame["property"], frame["unit"], strict=True))
    assert units["errors_mlearn_test.force_rmse_ev_a"] == "eV/Å"
    assert {u for n, u in units.items() if n != "errors_mlearn_test.force_rmse_ev_a"} == {"?"}  # not given: unknown
    first = th.difficulty.iloc[0]
    share = frame["share within, % [95 % CI]"].iloc[0]
    assert share.startswith(f"{100 * first['share_meeting']:.0f} % [")
    assert frame["met / n"].iloc[0] == f"{int(first['n_meeting'])} / {int(first['n_models'])}"


def test_cheaper_dft_errors_are_shown_in_their_unit(suite_results):
    name = suite_results.table.properties[0]
    cheaper = pd.DataFrame(
        {"value": [name, name], "setting": ["Γ-only", "2×2×2"], "error": [0.17, 0.04], "threshold": [True, False]}
    )
    section = difficulty_section(suite_results, {}, {}, cheaper, {name: "meV/atom"})
    table = section[section.index("Acceptable errors from cheaper DFT") :]
    rows = _first_table(table)
    assert [t for _, t in rows[0]] == ["value", "unit", "2×2×2 (in unit)", "Γ-only (in unit)"]
    assert [t for _, t in rows[1]] == [name, "meV/atom", "0.04", "0.17"]
