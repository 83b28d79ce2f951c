"""The explored structure as a networkx graph, and exports that load back unchanged."""

from __future__ import annotations

import networkx as nx
import pytest

from tracer_tui.engine.graph import export_graph, load_graph

PROMPT = "When Mary and John went to the park, John gave the ball to"


@pytest.fixture(scope="module")
def explored(tracer):
    trace = tracer.trace(PROMPT, top_k=6)
    latents = [str(n.id) for n in trace.nodes if not n.id.is_error and n.id.site != tracer.sites[0]][:2]
    trace.expand(latents, top_k=4)
    return trace


def test_graph_has_signed_edges_into_parents(explored):
    g = explored.graph()
    assert g.nodes["target"]["kind"] == "target"
    for node in explored.nodes:
        assert g.edges[str(node.id), "target"]["attribution"] == node.attribution
    for parent, children in explored.children.items():
        for child in children:
            assert g.has_edge(str(child.id), parent)
    assert nx.is_directed_acyclic_graph(g)


@pytest.mark.parametrize("suffix", [".json", ".graphml"])
def test_export_round_trip(explored, tmp_path, suffix):
    g = explored.graph()
    back = load_graph(export_graph(g, tmp_path / f"graph{suffix}"))
    assert dict(back.nodes(data=True)) == dict(g.nodes(data=True))
    assert {(u, v): d for u, v, d in back.edges(data=True)} == {(u, v): d for u, v, d in g.edges(data=True)}
    assert back.graph == g.graph
