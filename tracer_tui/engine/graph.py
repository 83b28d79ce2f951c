"""The explored structure as a networkx DiGraph (edges point from a driver to what it drives), and its exports."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.nodes import TARGET


def build_graph(trace, ablations=None, ablation=None, verify=None):
    """The explored graph, with what the session holds beside it: the foil, the ablations (``{node id: scale}``)
    and their result (a ``core.nodes.AblationResult``), and verify results (``{parent: VerifyResult}``; default:
    the trace's own). Every attribute is a plain number or string, so GraphML can hold it too."""
    import networkx as nx

    t = trace.target
    g = nx.DiGraph(prompt=trace.prompt, metric=t.metric, target=t.token, target_position=t.position,
                   value=t.value, prob=t.prob)
    if t.foil is not None:
        g.graph["foil"] = t.foil
    if ablation is not None:
        g.graph.update(ablated_value=ablation.value, ablated_prob=ablation.prob, ablated_delta=ablation.delta,
                       ablated_estimated_delta=ablation.estimated_delta)
    g.add_node(TARGET, kind="target", token=t.token, token_id=t.id, position=t.position, value=t.value, prob=t.prob)
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
    for key, scale in (ablations or {}).items():
        if key in g:
            g.nodes[key]["ablation_scale"] = float(scale)
    for parent, result in (trace.verified if verify is None else verify).items():
        if parent not in g:
            continue
        g.nodes[parent].update(verify_k=result.k, **({} if result.spearman is None else
                                                     {"verify_spearman": result.spearman}))
        if result.sign_agreement is not None:
            g.nodes[parent]["verify_sign_agreement"] = result.sign_agreement
        for pair in result.pairs:
            if g.has_edge(str(pair.id), parent):
                g.edges[str(pair.id), parent].update(verify_estimated=pair.estimated, verify_actual=pair.actual)
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
