import networkx as nx
import numpy as np

from mlipscope.report.figures_graphs import (
    cluster_figure,
    component_layout,
    correlation_graph_figure,
    correlation_heatmap_figure,
    prediction_figure,
)


def test_component_layout_keeps_components_apart():
    graph = nx.Graph([("a", "b"), ("b", "c"), ("x", "y")])
    graph.add_node("z")
    layout = component_layout(graph, seed=0)
    assert set(layout) == set(graph.nodes)
    # each component stays inside its own unit grid cell
    cell = {node: tuple(np.round(xy).astype(int)) for node, xy in layout.items()}
    assert cell["a"] == cell["b"] == cell["c"] and cell["x"] == cell["y"]
    assert len({cell["a"], cell["x"], cell["z"]}) == 3


def test_graph_figures_draw(small_results, degenerate_results):
    for draw in (correlation_heatmap_figure, correlation_graph_figure, prediction_figure, cluster_figure):
        assert draw(small_results) is not None
        assert draw(degenerate_results) is None
