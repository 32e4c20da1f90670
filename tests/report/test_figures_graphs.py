import networkx as nx
import numpy as np

from mlipscope.report.figures_graphs import (
    cluster_figure,
    component_layout,
    correlation_graph_figure,
    correlation_heatmap_figure,
    graph_side_in,
    label_font_size,
    node_labels,
    prediction_figure,
)
from mlipscope.report.labels import display_name


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


def test_node_labels_are_readable_names_over_short_lines():
    labels = node_labels(["elastic_perfect.c11_gpa", "vacancy_64.formation_energy_ev", "re_vacancy.re_f_ev_a"])
    assert labels == {
        "elastic_perfect.c11_gpa": "perfect C11\n(GPa)",
        "vacancy_64.formation_energy_ev": "vacancy 64\nformation\nenergy (eV)",
        "re_vacancy.re_f_ev_a": "vacancy RE_F\n(eV/Å)",
    }
    # ~60 nodes: a larger figure and a smaller font than for 10
    assert graph_side_in(60) > graph_side_in(10) == 9.0 and graph_side_in(500) == 16.0
    assert label_font_size(60) < label_font_size(10)


def _texts(ax) -> set[str]:
    return {t.get_text() for t in ax.texts if t.get_text()}


def test_graph_figures_label_their_nodes_with_readable_names(suite_results):
    corr = suite_results.correlation
    fig = correlation_graph_figure(suite_results)
    assert _texts(fig.axes[0]) == set(node_labels(corr.graph.nodes).values())
    raw = [t for t in _texts(fig.axes[0]) if "_gpa" in t or "_ev" in t or "." in t.split("(")[0]]
    assert not raw
    pred = suite_results.prediction
    fig = prediction_figure(suite_results)
    ax_r2, ax_graph = fig.axes
    shown = [t.get_text() for t in ax_r2.get_yticklabels()]
    assert shown == [display_name(n) for n in pred.r2.sort_values("r2_mean").index]
    assert _texts(ax_graph) == set(node_labels(pred.graph.nodes).values())  # every node named, top ones in bold
    bold = {t.get_text() for t in ax_graph.texts if t.get_fontweight() == "bold"}
    assert bold == set(node_labels(n for n in pred.ranking["property"][:15] if n in pred.graph).values())
    heat = correlation_heatmap_figure(suite_results)
    assert {t.get_text() for t in heat.axes[0].get_yticklabels()} == {display_name(n) for n in corr.pearson.index}
