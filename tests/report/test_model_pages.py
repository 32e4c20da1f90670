import math
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from mlipscope.failures import FailureKind
from mlipscope.properties.base import ErrorRecord
from mlipscope.report import figures_properties as fp
from mlipscope.report import write_report
from mlipscope.report.model_pages import ModelReportData, page_filename
from mlipscope.store.duckdb_store import ResultsStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# details shaped as the property modules store them (eos.py, phonons.py, migration.py, rare_events.py)
EOS = {"volumes_a3_per_atom": [18.0, 19.0, 20.0, 21.0], "energies_ev_per_atom": [-4.50, -4.60, -4.62, -4.58]}
PHONONS = {
    "band_labels": ["Γ", "X", "K|U", "L"],
    "band_distances": [[0.0, 0.5, 1.0], [1.0, 1.4], [1.4, 2.0]],
    "band_frequencies_thz": [
        [[0, 0, 15], [4, 12, 13], [4.5, 12, 14]],
        [[4.5, 12, 14], [5, 11, 14]],
        [[5, 11, 14], [3, 11, 15]],
    ],
    "dos_frequency_thz": [0.0, 5.0, 10.0, 15.0],
    "dos_states_thz_atom": [0.0, 0.1, 0.2, 0.3],
}
NEB = {"path_energy_ev": [0.0, 0.2, 0.45, 0.2, 0.01], "reaction_coordinate_a": [0, 0.5, 1, 1.5, 2], "saddle_image": 2}
RE = {"dataset": "si_vacancy_re_test", "delta_f_ev_a": [0.1, 0.3, 0.7, 1.2], "delta_theta_deg": [2.0, 10.0, 20.0, 45.0]}


def _points(fig: Figure) -> list[np.ndarray]:
    return [line.get_ydata() for ax in fig.axes for line in ax.get_lines() if line.get_marker() == "o"]


def test_figure_functions_draw_their_family_and_refuse_other_details():
    eos = fp.eos_figure(EOS)
    assert isinstance(eos, Figure)
    assert list(eos.axes[0].get_lines()[0].get_xdata()) == EOS["volumes_a3_per_atom"]
    refs = {"x_ta_thz": (4.4, 4.42), "gamma_lto_thz": (15.1, 15.09), "gamma_acoustic_max_abs_thz": (0.0, math.nan)}
    phon = fp.phonon_figure(PHONONS, refs)
    assert len(phon.axes) == 2  # dispersion + DOS
    reference_y = sorted(float(y) for ys in _points(phon) for y in ys)
    assert reference_y == [4.42, 15.09]  # at the X and Γ ticks; the acoustic value is no reference point
    neb = fp.neb_figure(NEB, {"barrier_ev": (0.45, 0.33)})
    assert any(list(line.get_ydata()) == [0.33, 0.33] for line in neb.axes[0].get_lines())
    re_fig = fp.re_cdf_figure(RE)
    steps = re_fig.axes[0].get_lines()[0]
    assert list(steps.get_ydata()) == [0.25, 0.5, 0.75, 1.0]
    assert re_fig.axes[0].get_xlim() == (0.0, 1.0) and re_fig.axes[1].get_xlim() == (0.0, 60.0)
    # dos only (vacancy cell): one panel; nothing usable: None
    assert len(fp.phonon_figure({k: PHONONS[k] for k in ("dos_frequency_thz", "dos_states_thz_atom")}).axes) == 1
    for draw in (fp.eos_figure, fp.phonon_figure, fp.neb_figure, fp.re_cdf_figure):
        assert draw({"lattice_constant_a": 5.43}) is None
    assert fp.eos_figure({"volumes_a3_per_atom": [1, 2], "energies_ev_per_atom": [1]}) is None
    assert [k for k, _, _ in fp.property_figures(RE)] == ["re_cdf"] and fp.property_figures(None) == []


def _fake_model_data(results, with_details: list[str]) -> ModelReportData:
    """Store-shaped frames for the synthetic models: every error-table column as an ok value of property 'p'
    (value = error, reference 0), one failed evaluation for the first model, details for ``with_details``."""
    errors = results.table.errors
    models = pd.DataFrame(
        {
            "model_id": errors.index,
            "family": results.table.types.reindex(errors.index).to_numpy(),
            "hyperparameters": [{"cutoff_a": 5.0}] * len(errors),
            "seed": range(len(errors)),
            "training_set_name": "ts",
            "fit_wall_time_s": 12.5,
            "status": "ok",
            "reason": "",
            "software_versions": [{"mlipscope": "0.test"}] * len(errors),
        }
    )
    long = errors.stack(future_stack=True).rename("absolute_error").reset_index()
    long.columns = ["model_id", "name", "absolute_error"]
    long = long.assign(
        property_label="p",
        config_hash="h1",
        status="ok",
        reason="",
        value=long["absolute_error"],
        reference=0.0,
        unit="eV",
        reference_source="synthetic",
        created=pd.Timestamp("2024-01-01"),
    )
    long.loc[long["absolute_error"].isna(), "value"] = math.nan
    first = str(errors.index[0])
    failed = pd.DataFrame(
        [
            {"model_id": first, "property_label": "neb_vacancy", "config_hash": "h2", "status": "failed"}
            | {"reason": "NEB did not <converge>", "created": pd.Timestamp("2024-01-02")}
        ]
    )
    details = {(m, "p"): {**EOS, **RE} for m in with_details}
    return ModelReportData(models, pd.concat([long, failed], ignore_index=True), details)


def test_model_pages_values_thresholds_failures_links_and_figure_cap(tmp_path, small_results):
    ids = small_results.table.model_ids
    best = [str(m) for m in small_results.selection.most_thresholds["model_id"]]
    data = _fake_model_data(small_results, with_details=ids)
    index = write_report(small_results, tmp_path / "rep", title="t", model_data=data, max_figure_models=3)
    page = index.read_text()
    out = tmp_path / "rep"
    # every model has a page, and the index's model links resolve
    hrefs = re.findall(r'href="(models/[^"]+)"', page)
    assert {h.split("/")[1] for h in hrefs} == {page_filename(m) for m in ids}
    assert all((out / h).is_file() for h in hrefs)
    assert f'<a href="models/{page_filename(best[0])}">{best[0]}</a>' in page  # from the selection table
    assert 'class="sortable"' in page and "<script>" in page
    # figures for 3 models only: the best by thresholds met
    pngs = sorted((out / "models" / "figures").glob("*.png"))
    assert {p.name.split("__")[0] for p in pngs} == {page_filename(m)[:-5] for m in best[:3]}
    assert {p.name.split("__")[-1] for p in pngs} == {"eos.png", "re_cdf.png"}
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    top = (out / "models" / page_filename(best[0])).read_text()
    assert 'src="figures/' in top and "Rare-event force-error CDFs (p)" in top
    assert "table-only" in (out / "models" / page_filename(best[-1])).read_text()
    # the values table: threshold and within threshold as the analysis says
    name = next(iter(small_results.config.thresholds))
    threshold = small_results.config.thresholds[name]
    err = small_results.table.errors.loc[best[0], name]
    row = re.search(rf"<tr><td>p</td><td>{re.escape(name)}</td>.*?</tr>", top).group(0)
    assert f"<td>{threshold:.4g}</td>" in row
    assert (f'class="{"yes" if err <= threshold else "no"}"') in row
    assert small_results.thresholds.met.loc[best[0], name] == (err <= threshold)
    # provenance and failures of the first model
    first = (out / "models" / page_filename(ids[0])).read_text()
    assert "cutoff_a" in first and "0.test" in first and "12.5" in first
    assert "NEB did not &lt;converge&gt;" in first and "neb_vacancy" in first
    assert '<a href="../index.html">' in first
    # offline: nothing on any page points to the network
    for html_file in [index, *(out / "models").glob("*.html")]:
        assert not re.search(r'(src|href)="(https?:)?//', html_file.read_text())
    assert len(pd.read_csv(out / "tables" / "models.csv")) == len(ids)


def test_model_pages_without_store_data_come_from_the_error_table(tmp_path, small_results):
    index = write_report(small_results, tmp_path / "rep", title="t")
    ids = small_results.table.model_ids
    pages = list((tmp_path / "rep" / "models").glob("*.html"))
    assert len(pages) == len(ids)
    assert not list((tmp_path / "rep" / "models" / "figures").glob("*.png"))
    text = (tmp_path / "rep" / "models" / page_filename(ids[0])).read_text()
    assert "From the error table only" in text
    for name in small_results.table.properties:
        assert name in text
    assert f'href="models/{page_filename(ids[0])}"' in index.read_text()


def test_page_filename_is_safe_and_distinct():
    assert page_filename("external-0c9a59d61d7c") == "external-0c9a59d61d7c.html"
    odd = [page_filename(m) for m in ("lammps:pair a/b", "lammps:pair a_b", "../x")]
    assert len(set(odd)) == 3 and all(re.fullmatch(r"[A-Za-z0-9._-]+\.html", n) for n in odd)
    assert not any(n.startswith(".") for n in odd)


def test_from_store_reads_the_latest_details(tmp_path):
    with ResultsStore(tmp_path / "r.duckdb") as store:
        mid = store.register_model("gap", {"cutoff_a": 5.0}, seed=1, training_set_name="ts")
        record = ErrorRecord.compare("migration_vacancy.barrier_ev", 0.45, 0.33, "eV")
        store.add_evaluation(mid, "migration_vacancy", "old", [record], wall_time_s=1.0, details={"x": 1})
        store.add_evaluation(mid, "migration_vacancy", "new", [record], wall_time_s=1.0, details=NEB)
        store.add_failed_evaluation(mid, "eos", "h", "no minimum", kind=FailureKind.NON_PHYSICAL)
        data = ModelReportData.from_store(store)
        assert data.details_for(mid, "migration_vacancy") == NEB
        assert data.details_for(mid, "eos") == {} and data.details_for("nope", "eos") is None
        assert data.subset([]).models.empty and len(data.subset([mid]).evaluations) == len(data.evaluations)


def test_write_report_rejects_a_negative_figure_cap(tmp_path, small_results):
    with pytest.raises(ValueError, match="max_figure_models"):
        write_report(small_results, tmp_path / "rep", max_figure_models=-1)
