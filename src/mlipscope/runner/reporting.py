"""Analysis reports of a run or a results database: the analysis of the error table, the report, and the
dynamics stage's section (:mod:`mlipscope.report.dynamics_section`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def dynamics_report(store, reference_spec: str | None = None, material: str | None = None):
    """The dynamics section's data from ``store`` (None when it holds no dynamics stage). The reference (for the
    Ea slope, thresholds and the values without a reference) is the run's, recorded with the selection, unless
    ``reference_spec``/``material`` are given."""
    from mlipscope.analysis.table import wide_error_table
    from mlipscope.report.dynamics_section import SELECTION_META_KEY, DynamicsReport
    from mlipscope.runner.benchmark import load_reference

    raw = store.get_meta(SELECTION_META_KEY)
    if not raw:
        return None
    selection = json.loads(raw)
    spec = reference_spec or selection.get("reference")
    reference = load_reference(spec, material or selection.get("material")) if spec else None
    thresholds = {k: v for k, (v, _) in (getattr(reference, "thresholds", {}) or {}).items()}
    records, models = store.records(), store.models()
    values = wide_error_table(records, models, metric="value")
    errors = wide_error_table(records, models)
    return DynamicsReport.from_store(store, values, errors, reference, thresholds)


def with_survival_columns(store, table):
    """``table`` with the MD failure rate of every model that has diffusion runs (``md_survival.*``, an error
    against 0), so a study that benchmarks dynamics on all its models analyses survival like any property."""
    from mlipscope.analysis.dynamics import SURVIVAL_METRIC, survival_table
    from mlipscope.store.md_runs import md_runs_by_model

    survival = survival_table(md_runs_by_model(store))
    if survival.empty:
        return table
    return table.join(survival[[SURVIVAL_METRIC]], how="left")


def with_mlip_types(table, models):
    """``table`` (a wide error table) with its ``family`` column holding each model's MLIP type
    (:meth:`~mlipscope.models.base.MLIPFamily.type_name`): a family's variants, such as DeePMD's se_e2_a and se_e3
    descriptors, are types of their own in the analysis, as in the seed study. Unknown families keep their name."""
    from mlipscope.models.registry import FAMILIES, get_family

    if "family" not in table.columns or not len(models):
        return table
    # each family looked up once; the store hands hyperparameters back as decoded dicts (ResultStore.models)
    families = {name: get_family(name) for name in set(models["family"]) if name in FAMILIES}
    with_variants = {name: family for name, family in families.items() if family.variant_hyperparameter is not None}
    types = {
        model_id: with_variants[family].type_name(hyperparameters if isinstance(hyperparameters, dict) else {})
        for model_id, family, hyperparameters in zip(
            models["model_id"], models["family"], models["hyperparameters"], strict=True
        )
        if family in with_variants
    }
    if not types:
        return table
    table = table.copy()
    table["family"] = [
        types.get(model_id, family) for model_id, family in zip(table.index, table["family"], strict=True)
    ]
    return table


def dynamic_columns(table, dynamics) -> list[str]:
    """Columns of the dynamics stage's properties: analysed in their own section (they exist for the few models
    chosen for MD, so the main analysis would drop them as mostly missing)."""
    if dynamics is None:
        return []
    labels = set(dynamics.labels)
    return [c for c in table.columns if c.split(".", 1)[0] in labels or c.startswith("md_survival.")]


def write_analysis_report(
    table,
    analysis_settings: dict[str, Any],
    out_dir: Path,
    *,
    title: str,
    run_summary: dict[str, Any] | None = None,
    settings_source: Path | None = None,
    cheaper_dft=None,
    model_data=None,
    dynamics=None,
) -> Path:
    """Analyse ``table`` and write the report; ``model_data`` (a
    :class:`~mlipscope.report.model_pages.ModelReportData`, e.g. from the open store) feeds the per-model pages,
    ``dynamics`` (a :class:`~mlipscope.report.dynamics_section.DynamicsReport`) the dynamics section."""
    from mlipscope.analysis import AnalysisConfig, load_error_table, run_all
    from mlipscope.report import write_report

    config = AnalysisConfig.from_dict(analysis_settings, source=settings_source)
    results = run_all(load_error_table(table), config)
    return write_report(
        results,
        out_dir,
        title=title,
        run_summary=run_summary,
        cheaper_dft=cheaper_dft,
        model_data=model_data,
        dynamics=dynamics,
    )


def analyze_command(
    *,
    db_path: Path | None,
    table_path: Path | None,
    config_path: Path | None,
    out_dir: Path,
    title: str,
    type_column: str | None = None,
    id_column: str | None = None,
    metadata_columns: list[str] | None = None,
    threshold_row: str | None = None,
    values: str = "absolute",
    reference: str | None = None,
    material: str | None = None,
) -> Path:
    """``mlipscope analyze``: the analysis + report from a results database or an error-table CSV. For a table
    from elsewhere: ``type_column`` (the MLIP type), ``id_column``, ``metadata_columns`` (names or globs: not
    errors), ``threshold_row`` (a row of acceptable errors, used as thresholds and left out of the models; the
    analysis config's own thresholds win) and ``values="log10"`` (the table holds log10 errors).

    A database with fewer models than the ensemble analysis needs gets the single-model report
    (:mod:`mlipscope.runner.single_model`); its values are judged against the acceptable errors of ``reference``
    (and ``material``), else of the reference each model was benchmarked against, under the config's own."""
    import yaml

    from mlipscope.analysis.table import load_error_table, split_threshold_row
    from mlipscope.errors import InputError

    settings: dict[str, Any] = {}
    if config_path is not None:
        if not config_path.is_file():
            raise InputError(config_path, "analysis config", "an existing YAML file")
        settings = yaml.safe_load(config_path.read_text()) or {}
    if type_column is not None:
        settings["type_column"] = type_column
    if db_path is not None:
        return _analyze_database(
            db_path, settings, out_dir, title=title, config_path=config_path, reference=reference, material=material
        )
    table = load_error_table(
        table_path,
        type_column=settings.get("type_column", "family"),
        metadata_columns=metadata_columns,
        id_column=id_column,
        values=values,
    )
    if threshold_row is not None:
        table, row_thresholds = split_threshold_row(table, threshold_row, settings.get("type_column", "family"))
        settings["thresholds"] = {**row_thresholds, **(settings.get("thresholds") or {})}
        sources = {k: f"row {threshold_row!r} of {table_path}" for k in row_thresholds}
        settings["threshold_sources"] = {**sources, **(settings.get("threshold_sources") or {})}
    return write_analysis_report(table, settings, out_dir, title=title, settings_source=config_path)


def _analyze_database(
    db_path: Path,
    settings: dict[str, Any],
    out_dir: Path,
    *,
    title: str,
    config_path: Path | None,
    reference: str | None,
    material: str | None,
) -> Path:
    """``analyze --db``: the single-model report for too few models, else the ensemble report of the database."""
    from mlipscope.analysis import AnalysisConfig
    from mlipscope.analysis.table import wide_error_table
    from mlipscope.errors import InputError
    from mlipscope.store.duckdb_store import ResultsStore

    if not db_path.is_file():
        raise InputError(db_path, "--db", "an existing mlipscope results database")
    from mlipscope.report.model_pages import ModelReportData
    from mlipscope.runner import single_model as single

    with ResultsStore(db_path, read_only=True) as store:  # analysing never writes to the database
        records, models = store.records(), store.models()
        table = with_mlip_types(wide_error_table(records, models, include_hyperparameters=True), models)
        if single.use_single_model_report(len(table), AnalysisConfig.from_dict(settings, source=config_path)):
            return single.single_model_report(
                store, settings, out_dir, title=title, config_path=config_path, reference=reference,
                material=material,
            )  # fmt: skip
        settings, note = single.ensemble_thresholds(
            store, table.index, set(records["property_label"]), settings, reference=reference, material=material
        )
        table = with_survival_columns(store, table)
        dynamics = dynamics_report(store)
        return write_analysis_report(
            table.drop(columns=dynamic_columns(table, dynamics)),
            settings,
            out_dir,
            title=title,
            run_summary={"acceptable errors": note} if note else None,
            settings_source=config_path,
            model_data=ModelReportData.from_store(store),  # details are read while the store is open
            dynamics=dynamics,
        )


def analysis_settings(config, material: str) -> tuple[dict[str, Any], Any]:
    """The config's ``[analysis]`` settings with the acceptable errors of the material's suite (reference-file
    defaults, then the cheaper-DFT errors the data allow, then the config's own thresholds) and their sources;
    and the cheaper-DFT table for the report."""
    from mlipscope.properties.acceptable_errors import acceptable_errors
    from mlipscope.runner.benchmark import load_reference

    settings = dict(config.analysis)
    reference = load_reference(config.reference, material)
    chosen, cheaper = acceptable_errors(config.properties_for(material), reference, settings.get("thresholds", {}))
    if chosen:
        settings["thresholds"] = {k: v for k, (v, _) in chosen.items()}
        settings["threshold_sources"] = {k: src for k, (_, src) in chosen.items()}
    return settings, cheaper


def cross_material_report(
    config, model_materials: dict[str, str], table, run_summary: dict[str, Any], model_data=None
) -> Path:
    """One analysis report per material (``<out>/<material>/index.html``) and an index page comparing the
    materials: per material and MLIP family, the number of models and the median error of each property."""
    from mlipscope.materials import load_material
    from mlipscope.report.cross_material import write_cross_material_index

    cfg = config
    sections = {}
    for spec in cfg.materials():
        name = load_material(spec).name
        ids = [m for m, mat in model_materials.items() if mat == spec and m in table.index]
        if not ids:
            continue
        sub = table.loc[ids].dropna(axis=1, how="all")
        sub.to_csv(cfg.out_dir / f"errors_{name}.csv")
        settings, cheaper = analysis_settings(config, spec)
        report = write_analysis_report(
            sub,
            settings,
            cfg.out_dir / name,
            title=f"{cfg.name}: {name}",
            settings_source=cfg.path,
            cheaper_dft=cheaper,
            model_data=None
            if model_data is None
            else model_data.subset(m for m, mat in model_materials.items() if mat == spec),
        )
        sections[name] = (sub, report)
    return write_cross_material_index(sections, cfg.out_dir, title=cfg.name, run_summary=run_summary)
