"""The JSON contract of ``tracer-tui trace --json`` (documented in the README; scripts rely on it)."""

from __future__ import annotations

from ..core.nodes import TARGET


def walk(trace, parent: str = TARGET, depth: int | None = None, _listed: set | None = None):
    """Explored nodes depth-first: each node is followed by its own children, if it was expanded.

    The explored graph is a DAG: a latent reached by several paths is listed under each parent (each record is one
    edge), but its children only the first time, so the output grows with the edges, not the paths."""
    listed = set() if _listed is None else _listed
    if (depth is not None and depth <= 0) or parent in listed:
        return
    listed.add(parent)
    for node in trace.children.get(parent, []):
        yield node
        yield from walk(trace, str(node.id), None if depth is None else depth - 1, listed)


def expand_to_depth(trace, depth: int, top_k: int, min_attr: float = 0.0) -> None:
    """Expand every latent of each level, level by level: one ``Trace.expand`` per level, so in chunks whose
    memory is bounded (``EXPAND_MEMORY_BYTES``) however wide the level grows."""
    level = trace.nodes
    for _ in range(depth - 1):
        latents = list(dict.fromkeys(str(n.id) for n in level if not n.id.is_error))
        if not latents:
            return
        children = trace.expand(latents, top_k=top_k, min_attr=min_attr)
        level = [c for nodes in children.values() for c in nodes]


def shown_parents(trace, depth: int | None = None) -> list[str]:
    """The parents whose children ``walk(trace, depth=depth)`` lists: "target", then expanded nodes, in order."""
    nodes = list(walk(trace, depth=None if depth is None else depth - 1))
    expanded = [str(n.id) for n in nodes if trace.children.get(str(n.id))]
    return [TARGET] + list(dict.fromkeys(expanded))


def verify_levels(trace, k: int, depth: int | None = None, should_cancel=None) -> list:
    """Verify every level the report shows (``Trace.verify`` of each shown parent); results in trace.verified."""
    return [trace.verify(k, parent=p, should_cancel=should_cancel) for p in shown_parents(trace, depth)]


def level_to_json(trace, parent: str) -> dict:
    """One level: its parent, the sites its nodes come from, and its verify numbers (null when not verified)."""
    v = trace.verified.get(parent)
    return {"parent": parent, "sites": trace.level_sites(parent),
            "spearman": None if v is None else v.spearman,
            "sign_agreement": None if v is None else v.sign_agreement,
            "k": None if v is None else v.k}


def node_to_json(trace, node) -> dict:
    """A node's record plus ``actual``: the real Δ of ablating it alone, when its level was verified."""
    out = node.to_json()
    v = trace.verified.get(node.parent)
    out["actual"] = None if v is None else v.actual_of(node.id)
    return out


def trace_to_json(trace, depth: int | None = None, ablation=None, verify=None) -> dict:
    out = {
        "prompt": trace.prompt,
        "tokens": trace.tokens,
        "target": trace.target.to_json(),
        "upstream": trace.upstream,
        "top_predictions": [p.to_json() for p in trace.top_predictions],
        "nodes": [node_to_json(trace, n) for n in walk(trace, depth=depth)],
        "levels": [level_to_json(trace, p) for p in shown_parents(trace, depth)],
    }
    if ablation is not None:
        out["ablation"] = ablation.to_json()
    if verify is not None:
        out["verify"] = verify.to_json()
    return out


# ---- the JSON writer: finite numbers only -----------------------------------------------------------------------
def non_finite(data, path: str = ""):
    """(path, value) of the first NaN or infinite number in a JSON-like structure, or None."""
    import math

    if isinstance(data, float):
        return None if math.isfinite(data) else (path or "value", data)
    if isinstance(data, dict):
        items = ((f"{path}.{k}" if path else str(k), v) for k, v in data.items())
    elif isinstance(data, (list, tuple)):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(data))
    else:
        return None
    for sub, value in items:
        found = non_finite(value, sub)
        if found is not None:
            return found
    return None


def check_finite_output(data, what: str = "the result") -> None:
    """A computed output holding NaN or inf is an error naming the value, never printed (NaN is not JSON)."""
    from ..core.errors import TracerError

    found = non_finite(data)
    if found is not None:
        where, value = found
        raise TracerError(f"{what} is not finite: {where} = {value}; an input (a scale, alpha or weight) is too "
                          "large for the model's dtype: use smaller values")


def dumps(data, what: str = "the result") -> str:
    """The only JSON writer of the CLI: strict JSON (``allow_nan=False``), a TracerError naming a non-finite value."""
    import json

    check_finite_output(data, what)
    return json.dumps(data, allow_nan=False)
