"""The explored structure as a networkx DiGraph (edges point from a driver to what it drives), and its exports."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.nodes import TARGET


def build_graph(trace):
    import networkx as nx

    g = nx.DiGraph(prompt=trace.prompt, metric=trace.target.metric, target=trace.target.token,
                   target_position=trace.target.position)
    g.add_node(TARGET, kind="target", token=trace.target.token, token_id=trace.target.id,
               position=trace.target.position, value=trace.target.value, prob=trace.target.prob)
    for parent, children in trace.children.items():
        for node in children:
            attrs = {"kind": node.kind, "site": node.id.site, "layer": node.layer, "position": node.id.position,
                     "token": node.token, "activation": node.activation}
            if node.id.latent is not None:
                attrs["latent"] = node.id.latent
            if node.label is not None:
                attrs["label"] = node.label
            g.add_node(str(node.id), **attrs)
            g.add_edge(str(node.id), parent, attribution=node.attribution, weight=node.attribution)
    return g


def to_node_link(graph) -> dict:
    import networkx as nx

    return nx.node_link_data(graph, edges="edges")


def from_node_link(data: dict):
    import networkx as nx

    return nx.node_link_graph(data, directed=True, edges="edges")


def export_graph(graph, path: str | Path) -> Path:
    """Write JSON (node-link) or GraphML, chosen by the file suffix."""
    import networkx as nx

    path = Path(path)
    if path.suffix.lower() == ".graphml":
        nx.write_graphml(graph, path)
    else:
        path.write_text(json.dumps(to_node_link(graph), indent=1))
    return path


def load_graph(path: str | Path):
    import networkx as nx

    path = Path(path)
    if path.suffix.lower() == ".graphml":
        graph = nx.read_graphml(path)
        for key in ("node_default", "edge_default"):  # GraphML bookkeeping, not our data
            graph.graph.pop(key, None)
        return graph
    return from_node_link(json.loads(path.read_text()))
