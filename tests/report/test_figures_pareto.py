import numpy as np

from mlipscope.report.figures_pareto import front_quality_figure, pareto_count_figure, pareto_front_figure


def test_front_staircase_goes_through_the_2d_front(small_results):
    fig = pareto_front_figure(small_results)
    pareto = small_results.pareto
    x_name, y_name = pareto.objectives[:2]
    front = small_results.table.errors.loc[pareto.optimal_2d[pareto.optimal_2d].index, [x_name, y_name]].abs()
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(np.sort(line.get_xdata()), np.sort(front[x_name].to_numpy()))


def test_count_and_quality_figures(small_results, degenerate_results):
    fig = pareto_count_figure(small_results)
    assert len(fig.axes[0].get_lines()) >= 3
    quality = front_quality_figure(small_results)
    heights = [p.get_height() for p in quality.axes[0].patches]
    # types compared on equal-size samples: the bars are the sample medians, not the size-biased full-sample values
    np.testing.assert_allclose(heights, small_results.pareto.quality["hv_median"])
    assert pareto_front_figure(degenerate_results) is None
