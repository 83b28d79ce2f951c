"""Which rows the tree shows and in which order: the `/` filter, hidden dense latents, a level's sort, and the
nodes reached by several paths (the explored structure is a DAG). Plain functions of a ``model.TraceSnapshot``;
no Textual, no torch.

Filter terms (all must match, case-insensitive): ``@5`` a position, ``#123`` a latent id, ``L2`` a layer,
anything else a substring of the label, the token, the site or the node id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..core.defaults import SORTS
from ..core.nodes import TARGET
from . import format as fmt
SORT_WORDS = {"estimate": "|estimated Δ|", "actual": "|actual Δ| (verified rows first)", "position": "position"}
_EXACT = re.compile(r"^(?P<kind>[@#lL])(?P<n>\d+)$")


def next_sort(mode: str) -> str:
    return SORTS[(SORTS.index(mode) + 1) % len(SORTS)] if mode in SORTS else SORTS[0]


def matches(node, query: str) -> bool:
    """Does ``node`` (a NodeRec) match every term of ``query``?"""
    nid = node.id
    words = " ".join((node.label or "", node.token, nid.site, str(nid), fmt.node_name(nid),
                      "error" if nid.is_error else "")).lower()
    for term in query.lower().split():
        m = _EXACT.match(term)
        if m is not None:
            n = int(m["n"])
            found = {"@": nid.position, "#": nid.latent, "l": node.layer}[m["kind"].lower()]
            if found != n:
                return False
        elif term not in words:
            return False
    return True


def shown_keys(trace, query: str, hide_dense: bool, threshold: float) -> set[str] | None:
    """Node ids the tree shows: those that pass (match the filter and are not hidden as dense), plus every node
    with a loaded descendant that passes, so the way to a match stays open. None: no filter, show all."""
    query = query.strip()
    if trace is None or (not query and not hide_dense):
        return None

    def passes(node) -> bool:
        return (not query or matches(node, query)) and not (hide_dense and node.is_dense(threshold))

    keep: dict[str, bool] = {}

    def visit(node) -> bool:  # upstream nodes sit at earlier sites, so the walk cannot loop
        key = str(node.id)
        if key not in keep:
            keep[key] = False  # provisional, in case of a malformed graph
            keep[key] = passes(node) | any([visit(c) for c in trace.children.get(key, ())])
        return keep[key]

    for node in trace.children.get(TARGET, ()):
        visit(node)
    return {k for k, v in keep.items() if v}


def counts(trace, shown: set[str] | None) -> tuple[int, int]:
    """(rows shown, rows loaded) over every loaded level, for the 'filter: … · 3 of 41 rows' line."""
    rows = [str(n.id) for level in trace.children.values() for n in level] if trace is not None else []
    return (len(rows) if shown is None else sum(k in shown for k in rows)), len(rows)


def order(nodes: Iterable, mode: str, verify=None) -> list:
    """A level's rows in the order shown: as ranked (by |estimate|); by |actual Δ| (verified rows first, the
    others after them as ranked); or by position (ties as ranked)."""
    nodes = list(nodes)
    if mode == "position":
        return sorted(nodes, key=lambda n: n.id.position)  # sorted is stable: ties keep the ranking
    if mode == "actual" and verify is not None:
        actual = {str(p.id): p.actual for p in verify.pairs}
        verified = sorted((n for n in nodes if str(n.id) in actual), key=lambda n: -abs(actual[str(n.id)]))
        return verified + [n for n in nodes if str(n.id) not in actual]
    return nodes


def parents_of(trace) -> Mapping[str, tuple[str, ...]]:
    """Node id -> the loaded levels (parent keys) it appears in; more than one: reached by several paths."""
    out: dict[str, list[str]] = {}
    if trace is not None:
        for parent, level in trace.children.items():
            for n in level:
                out.setdefault(str(n.id), []).append(parent)
    return {k: tuple(v) for k, v in out.items()}
