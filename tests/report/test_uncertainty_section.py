"""The uncertainty section reads what it needs from a store and shows the analysis functions' numbers: checked
against those functions called directly, and against independent computations, on a synthetic ensemble whose
members' spread understates the ensemble mean's error by a known factor."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, spearmanr

from mlipscope.analysis.frame_uncertainty import frame_uncertainty_table
from mlipscope.analysis.property_uncertainty import property_spreads
from mlipscope.data.examples import load_example
from mlipscope.properties.base import ErrorRecord
from mlipscope.properties.rare_events import re_mask
from mlipscope.report import write_report
from mlipscope.report.model_pages import ModelReportData
from mlipscope.report.uncertainty_section import (
    ERROR_METRIC_SOURCE,
    SECTION_TITLE,
    EnsembleFrames,
    UncertaintyReport,
    build_uncertainty_report,
    uncertainty_section,
    write_uncertainty_outputs,
)
from mlipscope.store.memory import MemoryStore
from mlipscope.store.protocol import EvaluationKey, ModelRecord, Record, Status

DATASETS = {"errors_mlearn_test": ("si_mlearn_test", 25), "re_vacancy": ("si_vacancy_re_test", 12)}
N_VALUES = 12


def synthetic_frames(families: dict[str, str], factor: float, seed: int = 0) -> dict[str, dict[str, list[dict]]]:
    """label -> model -> frame records: per frame a spread sigma (log-uniform), an ensemble-mean error of
    ``factor``·sigma·z shared by all members, and the members scattered by sigma around it."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[dict]]] = {}
    for label, (name, n_frames) in DATASETS.items():
        frames = load_example(name).frames[:n_frames]
        sigma = np.exp(rng.uniform(-5.0, -1.0, n_frames))
        e_dft = [float(a.info["dft_energy"]) / len(a) for a in frames]
        f_dft = [np.asarray(a.arrays["dft_forces"], dtype=float).ravel() for a in frames]
        e_bias = [factor * s * rng.normal() for s in sigma]
        f_bias = [factor * s * rng.normal(size=f.size) for s, f in zip(sigma, f_dft, strict=True)]
        out[label] = {
            model: [
                {
                    "index": i,
                    "config_type": "x",
                    "n_atoms": len(frames[i]),
                    "energy_dft_ev_atom": e_dft[i],
                    "energy_model_ev_atom": e_dft[i] + e_bias[i] + sigma[i] * rng.normal(),
                    "forces_dft_ev_a": f_dft[i].tolist(),
                    "forces_model_ev_a": (f_dft[i] + f_bias[i] + sigma[i] * rng.normal(size=f_dft[i].size)).tolist(),
                }
                for i in range(n_frames)
            ]
            for model in families
        }
    return out


def synthetic_values(families: dict[str, str], seed: int = 1) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Models x property values, their references and acceptable errors: value k scatters by s_k around a biased
    mean."""
    rng = np.random.default_rng(seed)
    names = [f"prop_{k}.value_ev" for k in range(N_VALUES)]
    refs = pd.Series(rng.uniform(1, 3, N_VALUES), index=names)
    thresholds = pd.Series(rng.uniform(0.05, 0.2, N_VALUES), index=names)
    spread = thresholds.to_numpy() * np.exp(rng.uniform(-1.5, 1.5, N_VALUES))
    bias = spread * rng.normal(0, 2.0, N_VALUES)
    values = refs.to_numpy() + bias + spread * rng.normal(size=(len(families), N_VALUES))
    return pd.DataFrame(values, index=list(families), columns=names), refs, thresholds


def build_store(families: dict[str, str], factor: float = 3.0) -> MemoryStore:
    store = MemoryStore()
    frames = synthetic_frames(families, factor)
    values, refs, _ = synthetic_values(families)
    for model, family in families.items():
        store.put_model(ModelRecord(model_id=model, family=family))
        records = [
            Record(
                EvaluationKey(model, label, "h"),
                Status.OK,
                values=(ErrorRecord.compare(f"{label}.force_rmse_ev_a", 0.1, 0.0, "eV/Å", ERROR_METRIC_SOURCE),),
                details={"dataset": DATASETS[label][0], "frames": frames[label][model]},
            )
            for label in DATASETS
        ]
        records.append(
            Record(
                EvaluationKey(model, "props", "h"),
                Status.OK,
                values=tuple(ErrorRecord.compare(n, values.loc[model, n], refs[n], "eV", "dft") for n in refs.index),
            )
        )
        store.put_records(records)
    return store


FAMILIES = {**{f"snap{i}": "snap" for i in range(5)}, **{f"ace{i}": "ace" for i in range(3)}}


@pytest.fixture(scope="module")
def report() -> UncertaintyReport:
    _, _, thresholds = synthetic_values(FAMILIES)
    return UncertaintyReport.from_store(build_store(FAMILIES), thresholds.to_dict())


def test_frame_numbers_are_the_analysis_functions(report):
    frames = synthetic_frames(FAMILIES, 3.0)
    data = load_example("si_vacancy_re_test").frames
    masks = {"re_vacancy": {i: re_mask(data[i]) for i in range(DATASETS["re_vacancy"][1])}}
    direct = frame_uncertainty_table(frames, FAMILIES, rare_event_atoms=masks, min_members=5)
    key = ["dataset", "group", "quantity"]
    pd.testing.assert_frame_equal(
        report.frame_table.sort_values(key, ignore_index=True), direct.sort_values(key, ignore_index=True)
    )
    assert set(report.frame_table["group"]) == {"all", "snap"}  # ace has 3 members: no numbers
    assert "force_rare_event_atoms" in set(report.frame_table["quantity"])
    assert any("ace (3)" in note for note in report.notes)


def test_property_numbers_match_independent_computations(report):
    values, refs, thresholds = synthetic_values(FAMILIES)
    direct = property_spreads(values, refs, thresholds, pd.Series(FAMILIES), min_members=5).dropna(subset=["spread"])
    pd.testing.assert_frame_equal(
        report.spreads.sort_values(["group", "value"], ignore_index=True),
        direct.sort_values(["group", "value"], ignore_index=True),
    )
    assert set(report.spreads["group"]) == {"all", "snap"}
    std = values.std(axis=0, ddof=1)
    error = (values.mean(axis=0) - refs).abs()
    for k in (1.0, 2.0):
        hits = int((error <= k * std).sum())
        ci = binomtest(hits, N_VALUES).proportion_ci(method="wilson")
        row = report.coverage[(report.coverage["group"] == "all") & (report.coverage["k"] == k)].iloc[0]
        assert row["share"] == pytest.approx(hits / N_VALUES) and row["n"] == N_VALUES
        assert (row["low"], row["high"]) == pytest.approx((ci.low, ci.high))
    outside = ((values - refs).abs() > thresholds).mean()  # share of models outside the acceptable error
    rho, low, high, n = report.difficulty
    assert n == N_VALUES and rho == pytest.approx(spearmanr(std / thresholds, outside).statistic)
    assert low <= rho <= high


def test_verdict_names_the_understatement_and_ranking(report):
    forces = [v for v in report.verdicts if v.startswith("errors_mlearn_test")]
    assert len(forces) == 1
    assert "ranks force errors (per component, eV/Å) well" in forces[0]  # sigma spans decades: rho high
    row = report.frame_table.query("dataset == 'errors_mlearn_test' and group == 'all'")
    factor = row.set_index("quantity").loc["force_component", "scale_factor"]
    assert factor == pytest.approx(3.0, rel=0.25)  # the known factor the spread understates the error by
    assert f"but understates them by a factor {factor:.2g}: scale it before use" in forces[0]
    assert "rare-event atoms" in report.verdicts[1]
    assert any(v.startswith("Properties: mean ± 2·spread covers") for v in report.verdicts)


def test_a_calibrated_ensemble_is_called_about_right():
    families = {f"m{i}": "snap" for i in range(8)}
    frames = {"errors_mlearn_test": synthetic_frames(families, 1.0)["errors_mlearn_test"]}
    ensemble = EnsembleFrames(frames, {"errors_mlearn_test": "si_mlearn_test"}, families)
    report = build_uncertainty_report(ensemble, pd.DataFrame(), pd.Series(dtype=float), {})
    verdict = report.verdicts[0]
    assert "and is about the right size" in verdict and "scale it" not in verdict
    assert "25 points are too few to size it" in verdict  # the 25 frames' energies


def test_one_model_omits_the_section_and_few_members_give_no_numbers(tmp_path):
    one = UncertaintyReport.from_store(build_store({"solo": "snap"}))
    assert one.omitted and "no ensemble" in one.omitted
    assert "No section:" in uncertainty_section(one, {}, {})
    assert write_uncertainty_outputs(one, tmp_path) == ({}, {})
    few = UncertaintyReport.from_store(build_store({f"m{i}": "snap" for i in range(3)}))
    assert not few.omitted and few.frame_table.empty and few.spreads.empty
    assert any("fewer than 5 members" in note for note in few.notes)


def test_figures_tables_and_html(report, tmp_path, small_results):
    drawn, tables = write_uncertainty_outputs(report, tmp_path)
    assert {"uncertainty_calibration_errors_mlearn_test", "uncertainty_properties"} <= set(drawn)
    for path in [*drawn.values(), *tables.values()]:
        assert (tmp_path / path).stat().st_size > 0
    page = write_report(small_results, tmp_path / "report", uncertainty=report).read_text()
    assert f'<h2 id="uncertainty">{SECTION_TITLE}</h2>' in page and 'href="#uncertainty"' in page
    section = page[page.index('id="uncertainty"') : page.index('id="models"')]
    rho = report.frame_table.iloc[0]
    assert f"{rho['spearman_rho']:.2g} [{rho['rho_low']:.2g}, {rho['rho_high']:.2g}]" in section
    assert "figures/uncertainty_calibration_re_vacancy.png" in section and "Verdict" in section
    # units: the spread column per row (eV/atom for energies, eV/Å for forces), the value table per value
    assert "mean spread (in unit)" in section and "<td>eV/atom</td>" in section and "<td>eV/Å</td>" in section
    assert "spread (in unit)" in section and "mean_error (in unit)" in section


def test_report_builds_the_section_from_the_store(small_results, tmp_path):
    store = build_store(FAMILIES)
    page = write_report(small_results, tmp_path, model_data=ModelReportData.from_store(store)).read_text()
    assert SECTION_TITLE in page and (tmp_path / "tables" / "uncertainty_frames.csv").is_file()
    assert not math.isnan(pd.read_csv(tmp_path / "tables" / "uncertainty_frames.csv")["spearman_rho"].iloc[0])
