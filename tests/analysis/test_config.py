import pytest

from mlipscope.analysis.config import AnalysisConfig
from mlipscope.errors import InputError


def test_defaults_and_nested_lasso():
    config = AnalysisConfig.from_dict({"thresholds": {"eos.a": 0.01}, "lasso": {"alpha": 0.05, "n_splits": 3}})
    assert config.thresholds == {"eos.a": 0.01}
    assert config.lasso.alpha == 0.05 and config.lasso.n_splits == 3
    assert config.lasso.r2_threshold == 0.6 and config.r2_threshold == 0.6
    assert AnalysisConfig().transform == "zlog10"


def test_minimum_sizes_and_canonical_settings():
    defaults = AnalysisConfig()
    assert defaults.canonical_only is True and defaults.canonical_properties is None
    assert (defaults.min_models_correlation, defaults.min_type_members) == (20, 10)
    assert (defaults.min_models_prediction, defaults.min_models_clustering, defaults.min_models_selection) == (
        20,
        10,
        30,
    )
    config = AnalysisConfig.from_dict(
        {
            "canonical_only": False,
            "canonical_properties": ["a", "b"],
            "min_models_correlation": 30,
            "min_type_members": 5,
        }
    )
    assert (config.canonical_only, config.canonical_properties) == (False, ["a", "b"])
    assert (config.min_models_correlation, config.min_type_members) == (30, 5)


def test_yaml_file(tmp_path):
    path = tmp_path / "analysis.yaml"
    path.write_text("r2_threshold: 0.5\nproperties: [a, b]\nn_bootstrap: 10\n")
    config = AnalysisConfig.from_yaml(path)
    assert (config.r2_threshold, config.properties, config.n_bootstrap) == (0.5, ["a", "b"], 10)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"r2_treshold": 0.6}, "analysis.r2_treshold"),
        ({"n_bootstrap": "many"}, "analysis.n_bootstrap"),
        ({"thresholds": {"eos.a": -1.0}}, "analysis.thresholds.eos.a"),
        ({"thresholds": {"eos.a": "x"}}, "analysis.thresholds.eos.a"),
        ({"transform": "sqrt"}, "analysis.transform"),
        ({"lasso": {"alpha": 0.1, "folds": 3}}, "analysis.lasso.folds"),
        ({"r2_threshold": 1.5}, "analysis.r2_threshold"),
        ({"null_correlations": [1.0]}, "analysis.null_correlations[0]"),
        ({"canonical_only": "yes"}, "analysis.canonical_only"),
        ({"canonical_properties": "eos.a"}, "analysis.canonical_properties"),
        ({"min_models_correlation": 1}, "analysis.min_models_correlation"),
        ({"min_type_members": 2.5}, "analysis.min_type_members"),
    ],
)
def test_bad_settings_name_the_field(tmp_path, data, field):
    with pytest.raises(InputError) as info:
        AnalysisConfig.from_dict(data, source=tmp_path / "a.yaml")
    assert f"field '{field}'" in str(info.value) and "a.yaml" in str(info.value)


def test_bad_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("thresholds: [unclosed\n")
    with pytest.raises(InputError, match="valid YAML"):
        AnalysisConfig.from_yaml(path)
