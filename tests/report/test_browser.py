"""The report in a real headless browser (Chromium through Playwright): pages load without console errors, every
local link and image resolves, images render, nothing is fetched from the network, and table headers sort.

Needs ``pip install playwright`` and a Chromium binary on PATH (Debian: ``apt-get install -y chromium``; the
browser Playwright itself downloads with ``playwright install chromium`` works too). Skipped otherwise."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs the Python package playwright: pip install playwright"
)
BROWSER = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
if BROWSER is None:
    pytest.skip(
        "needs a Chromium binary on PATH: apt-get install -y chromium (or: playwright install chromium)",
        allow_module_level=True,
    )

from mlipscope.analysis import AnalysisConfig, load_error_table, run_all  # noqa: E402
from mlipscope.analysis.table import wide_error_table  # noqa: E402
from mlipscope.cli import main as cli_main  # noqa: E402
from mlipscope.failures import FailureKind  # noqa: E402
from mlipscope.properties.base import ErrorRecord  # noqa: E402
from mlipscope.report import write_report  # noqa: E402
from mlipscope.report.model_pages import ModelReportData, page_filename  # noqa: E402
from mlipscope.store.duckdb_store import ResultsStore  # noqa: E402

NEB = {
    "defect": "vacancy",
    "path_energy_ev": [0.0, 0.12, 0.41, 0.13, 0.0],
    "reaction_coordinate_a": [0.0, 0.6, 1.2, 1.8, 2.4],
    "saddle_image": 2,
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A real benchmark of Stillinger-Weber and Tersoff (EOS, phonons, RE forces: ~20 s), plus an NEB evaluation
    and a failed one stored for SW (a real NEB takes minutes), analysed and reported from the store."""
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "r.duckdb"
    for calc in ("sw", "tersoff"):
        argv = ["benchmark", "--calculator", calc, "--db", str(db), "--json"]
        assert cli_main([*argv, "--properties", "eos", "phonons_perfect", "re_vacancy"]) == 0
    with ResultsStore(db) as store:
        models = store.models()
        sw = str(models.loc[models["hyperparameters"].map(lambda h: h.get("calculator")) == "sw", "model_id"].iloc[0])
        record = ErrorRecord.compare("migration_vacancy.barrier_ev", 0.41, 0.33, "eV", "test reference")
        store.add_evaluation(sw, "migration_vacancy", "fake", [record], wall_time_s=1.0, details=NEB)
        store.add_failed_evaluation(
            sw, "migration_interstitial", "fake", "NEB did not converge in 500 steps", kind=FailureKind.NON_PHYSICAL
        )
        table = wide_error_table(store.records(), store.models(), include_hyperparameters=True)
        thresholds = {"eos.lattice_constant_a": 0.05, "phonons_perfect.x_ta_thz": 1.0, "re_vacancy.re_f_ev_a": 1.0}
        results = run_all(load_error_table(table), AnalysisConfig(thresholds=thresholds), show_progress=False)
        index = write_report(
            results, folder / "rep", title="SW vs Tersoff", model_data=ModelReportData.from_store(store)
        )
    return index, sw


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=BROWSER, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open(browser, path: Path):
    """The loaded page, its console errors and page errors, and the non-file requests it tried (all refused)."""
    context = browser.new_context()
    network: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            network.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return context, page, errors, network


def _check_links_and_images(page, path: Path) -> int:
    links = page.eval_on_selector_all("[href], [src]", "els => els.map(e => e.href || e.src)")
    assert links
    for url in links:
        parsed = urlparse(url)
        assert parsed.scheme in ("file", "data"), url
        if parsed.scheme == "file":
            target = Path(unquote(parsed.path))
            assert target.is_file(), f"{path.name}: broken link {url}"
            if parsed.fragment:
                assert page.locator(f"#{parsed.fragment}").count() == 1 or target != path.resolve(), url
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.getAttribute('src'), e.complete, e.naturalWidth])"
    )
    for src, complete, width in images:
        assert complete and width > 0, f"{path.name}: image {src} did not render"
    return len(images)


def _column(page, table, i: int) -> list[str]:
    return table.locator("tbody tr").evaluate_all(f"rows => rows.map(r => r.cells[{i}].textContent.trim())")


def _as_number(text: str) -> float:
    return math.inf if text in ("—", "") else float(text)


def test_index_loads_offline_links_resolve_images_render_and_tables_sort(report, browser):
    index, sw = report
    context, page, errors, network = _open(browser, index)
    try:
        assert page.title() == "SW vs Tersoff"
        assert _check_links_and_images(page, index) >= 3
        assert not errors, errors
        assert not network, network
        # the "all models" table: click model_id twice
        table = page.locator("#models + p + table.sortable")
        header = table.locator("thead th", has_text="model_id")
        header.click()
        ids = _column(page, table, 0)
        assert ids == sorted(ids) and len(ids) == 2 and header.get_attribute("aria-sort") == "ascending"
        header.click()
        assert _column(page, table, 0) == sorted(ids, reverse=True)
        # a model id links to its page
        link = table.locator(f'a[href="models/{page_filename(sw)}"]')
        assert link.count() == 1
        link.click()
        page.wait_for_load_state("load")
        assert page.url.endswith(f"models/{page_filename(sw)}")
        assert not errors, errors
    finally:
        context.close()


def test_model_page_has_family_figures_failures_and_sorts_numerically(report, browser):
    index, sw = report
    path = index.parent / "models" / page_filename(sw)
    context, page, errors, network = _open(browser, path)
    try:
        n_images = _check_links_and_images(page, path)
        assert n_images == 4  # EOS, phonons, RE CDFs, NEB
        alts = page.eval_on_selector_all("img", "els => els.map(e => e.alt)")
        assert {a.split()[-1] for a in alts} == {"eos", "phonons", "re_cdf", "neb"}
        assert not errors and not network, (errors, network)
        assert page.get_by_text("NEB did not converge in 500 steps").count() == 1
        values = page.locator("h2:has-text('Values') + table.sortable")
        names = [h.strip() for h in values.locator("thead th").all_inner_texts()]
        i = names.index("absolute_error")
        header = values.locator("thead th").nth(i)
        header.click()
        up = _column(page, values, i)
        numbers = [_as_number(t) for t in up]
        assert "—" in up and numbers == sorted(numbers)  # numeric, NaN last
        header.click()
        down = _column(page, values, i)
        filled = [float(t) for t in down if t != "—"]
        assert filled == sorted(filled, reverse=True) and down[-1] == "—"  # NaN stays last
        assert len(down) == len(up)
    finally:
        context.close()
