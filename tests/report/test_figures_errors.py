from mlipscope.report.figures_errors import difficulty_figure, distribution_figure, short_label


def test_difficulty_bars_follow_the_ranking(small_results):
    fig = difficulty_figure(small_results)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[::-1] == [short_label(p) for p in small_results.thresholds.difficulty["property"]]
    types = [t for t in small_results.thresholds.pass_share.columns if t != "all"]
    assert len(ax.patches) == len(labels) * len(types)
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    expected = sorted(round(v, 6) for v in small_results.thresholds.pass_share[types].to_numpy().ravel())
    assert widths == expected


def test_distribution_panels_and_nothing_without_data(small_results, degenerate_results):
    fig = distribution_figure(small_results)
    assert len(fig.axes) == 1  # 9 properties fit one panel
    assert difficulty_figure(degenerate_results) is None
