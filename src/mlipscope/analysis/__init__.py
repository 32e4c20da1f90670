"""Ensemble analysis of an error table: thresholds, distributions, Pareto fronts, correlation and prediction graphs,
clusters of optimal models and model selection. ``run_all`` runs them; :mod:`mlipscope.report` draws them."""

from mlipscope.analysis.config import AnalysisConfig, LassoSettings
from mlipscope.analysis.pipeline import AnalysisResults, run_all
from mlipscope.analysis.table import ErrorTable, load_error_table

__all__ = ["AnalysisConfig", "AnalysisResults", "ErrorTable", "LassoSettings", "load_error_table", "run_all"]
