"""What the user is exploring, as immutable plain data (no Textual, no torch).

One owner: ``Exploration`` holds the request (prompt, position, target, metric, foil), a frozen snapshot of the
trace on screen, the ablations and their result, verify results and the expansion log. The app keeps exactly one
``Exploration`` and replaces it through a single setter; widgets draw from it and never see the live engine
``Trace``. Worker threads build snapshots with ``snapshot(trace)`` under the engine lock and post them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any
from collections.abc import Mapping

from ..core.defaults import DEFAULT_METRIC, DEFAULT_UPSTREAM, DENSE_THRESHOLD, is_dense
from ..core.nodes import TARGET, AblationResult, Node, Prediction, Target, VerifyResult

EMPTY: Mapping = MappingProxyType({})


def frozen_map(items) -> Mapping:
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class TraceRequest:
    prompt: str
    position: int | None = None  # None: the last position
    target: str | None = None  # a token string typed by the user
    target_id: int | None = None  # a chosen prediction (wins over ``target``)
    metric: str = DEFAULT_METRIC
    foil: str | None = None  # logit-diff's subtracted token
    upstream: str = DEFAULT_UPSTREAM  # where children come from: "nearest" level or "all" upstream sites

    def with_(self, **changes) -> TraceRequest:
        return replace(self, **changes)

    def describe(self) -> str:
        where = "last position" if self.position is None else f"position {self.position}"
        what = (f"token id {self.target_id}" if self.target_id is not None
                else repr(self.target) if self.target is not None else "top prediction")
        extra = f" vs {self.foil!r}" if self.metric == "logit-diff" else ""
        return f"{what} at {where}, {self.metric}{extra}, upstream {self.upstream}"


# ---- records: the engine's own (immutable), plus what the screen needs beside them --------------------------
@dataclass(frozen=True)
class NodeRec(Node):
    """An engine Node with its latent's firing density (share of tokens; None: unknown, or an error node)."""

    density: float | None = None
    to_target: float | None = None  # attribution to the target metric (differs from ``attribution`` below the root)

    def is_dense(self, threshold: float = DENSE_THRESHOLD) -> bool:
        """Fires on more than ``threshold`` of tokens (the user's setting; unknown density is never dense)."""
        return bool(is_dense(self.density, threshold))

    @classmethod
    def of(cls, node: Node, density: float | None = None, to_target: float | None = None) -> NodeRec:
        if isinstance(node, NodeRec):
            return node
        return cls(**{f.name: getattr(node, f.name) for f in fields(Node)}, density=density, to_target=to_target)


@dataclass(frozen=True)
class Expansion:
    """One loaded page: ``node``'s children from ``offset`` (the session file's ``expanded`` entries)."""

    node: str
    offset: int

    def to_json(self) -> dict:
        return {"node": self.node, "offset": self.offset}


@dataclass(frozen=True, eq=False)
class TraceSnapshot:
    """The trace as the screen shows it: never changes; an expansion makes a new one (``with_page``)."""

    target: Target
    tokens: tuple[str, ...]
    predictions: tuple[Prediction, ...]
    children: Mapping[str, tuple[NodeRec, ...]]  # parent key -> loaded children, best first
    totals: Mapping[str, int]  # parent -> number of eligible nodes ("… N more")
    abs_totals: Mapping[str, float]  # parent -> sum of |attribution| over them (shares)
    upstream: frozenset[str] = frozenset()  # loaded node ids that can be expanded (SAE sites before their own)

    @property
    def nodes(self) -> tuple[NodeRec, ...]:
        return self.children.get(TARGET, ())

    def has_upstream(self, node_id) -> bool:
        return str(node_id) in self.upstream

    def with_page(self, page: Page) -> TraceSnapshot:
        """This snapshot plus one loaded page (what the engine did to its own children lists)."""
        known = self.children.get(page.parent, ()) if page.offset else ()
        return replace(self, children=frozen_map({**self.children, page.parent: known + page.nodes}),
                       totals=frozen_map({**self.totals, page.parent: page.total}),
                       abs_totals=frozen_map({**self.abs_totals, page.parent: page.abs_total}),
                       upstream=self.upstream | page.upstream)


@dataclass(frozen=True)
class Page:
    """A page of one parent's children as an expand job loaded it."""

    parent: str
    offset: int
    nodes: tuple[NodeRec, ...]
    total: int
    abs_total: float
    upstream: frozenset[str]


def _upstream(trace, nodes) -> frozenset[str]:
    return frozenset(str(n.id) for n in nodes if trace.has_upstream(n.id))


def density(trace, node) -> float | None:
    """The latent's density from its SAE's sparsity file (None: unknown, or an error node)."""
    nid = node.id
    if nid.latent is None:
        return None
    site = trace.tracer.site_by_name.get(nid.site)
    return None if site is None else site.density(nid.latent)


def record(trace, node) -> NodeRec:
    return NodeRec.of(node, density(trace, node), trace.root_attribution(node.id))


def page(trace, parent: str, offset: int, nodes) -> Page:
    """A loaded page as records (run it under the engine lock, right after the engine call)."""
    recs = tuple(record(trace, n) for n in nodes)
    return Page(parent, offset, recs, trace.totals.get(parent, len(recs)), trace.abs_totals.get(parent, 0.0),
                _upstream(trace, recs))


def snapshot(trace) -> TraceSnapshot:
    """Freeze a live engine Trace (run it under the engine lock: workers mutate the trace)."""
    children = {k: tuple(record(trace, n) for n in v) for k, v in trace.children.items()}
    upstream = frozenset().union(*(_upstream(trace, v) for v in children.values()))
    return TraceSnapshot(target=trace.target, tokens=tuple(trace.tokens),
                         predictions=tuple(trace.top_predictions), children=MappingProxyType(children),
                         totals=frozen_map(trace.totals), abs_totals=frozen_map(trace.abs_totals), upstream=upstream)


@dataclass(frozen=True, eq=False)
class Exploration:
    """Everything the screen shows. ``request`` is the request of the trace on screen, or (before any trace) the
    metric and foil the next trace will use; a request that fails never reaches it."""

    request: TraceRequest = field(default_factory=lambda: TraceRequest(""))
    trace: TraceSnapshot | None = None
    ablations: Mapping[str, float] = field(default_factory=lambda: EMPTY)  # node id -> scale, shared by every occurrence
    ablation: AblationResult | None = None  # result for the current ablations, or None
    verify: Mapping[str, VerifyResult] = field(default_factory=lambda: EMPTY)  # parent key -> result
    expanded: tuple[Expansion, ...] = ()  # pages in the order they were loaded
    details: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # node id -> details pane data (read-only mappings)
    verifying: frozenset[str] = frozenset()  # levels (parent keys) whose verify job is running
    sort: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # level -> tree_filter.SORTS (f); else default
    filter: str = ""  # the tree's `/` filter (tree_filter.matches)
    pins: tuple[str, ...] = ()  # pinned node ids, in the order pinned (saved in the session)
    notes: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # node id -> the user's note (saved)
    mean_scales: Mapping[str, float] = field(default_factory=lambda: EMPTY)  # node id -> scale to its mean (M)
    inactive: frozenset[str] = frozenset()  # ablated latents that the other ablations switch off (activation 0)
    stale: bool = False  # the trace of a new prompt was cancelled: the tree shows the previous one, read-only

    def with_(self, **changes) -> Exploration:
        for name in ("ablations", "verify", "details", "sort", "notes", "mean_scales"):
            if name in changes and not isinstance(changes[name], MappingProxyType):
                changes[name] = frozen_map(changes[name])
        return replace(self, **changes)

    def is_mean(self, key: str) -> bool:
        """Is the node ablated to its mean activation (its scale is still the one M gave it)?"""
        scale = self.ablations.get(key)
        return scale is not None and self.mean_scales.get(key) == scale

    def verify_pair(self, parent: str, node_id: str):
        result = self.verify.get(parent)
        if result is None:
            return None
        for pair in result.pairs:
            if str(pair.id) == node_id:
                return pair
        return None
