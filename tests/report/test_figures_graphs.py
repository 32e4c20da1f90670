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


def test_component_layout_does_not_depend_on_the_string_hash_seed():
    # a subgraph of a component iterates a set of node names, whose order changes with PYTHONHASHSEED: the layout
    # (and so the report's figures) must not
    import os
    import subprocess
    import sys

    code = (
        "import networkx as nx\n"
        "from mlipscope.report.figures_graphs import component_layout\n"
        "names = [f'energy_{i}' for i in range(12)]\n"
        "graph = nx.Graph([(a, b) for i, a in enumerate(names) for b in names[i + 1 : i + 4]])\n"
        "graph.add_edges_from([('x_1', 'x_2')])\n"
        "layout = component_layout(graph, seed=0)\n"
        "print(sorted((n, round(float(x), 9), round(float(y), 9)) for n, (x, y) in layout.items()))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2)
    }
    assert len(outputs) == 1
