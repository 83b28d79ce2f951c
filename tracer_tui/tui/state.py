"""What the user is exploring, as plain data (no Textual, no torch): the request, the trace and its state."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..core.defaults import METRICS  # noqa: F401 (re-exported for app.py until the state rewrite)


@dataclass(frozen=True)
class TraceRequest:
    prompt: str
    position: int | None = None  # None: the last position
    target: str | None = None  # a token string typed by the user
    target_id: int | None = None  # a chosen prediction (wins over ``target``)
    metric: str = "logprob"
    contrast: str | None = None

    def with_(self, **changes) -> "TraceRequest":
        return replace(self, **changes)

    def describe(self) -> str:
        where = "last position" if self.position is None else f"position {self.position}"
        what = (f"token id {self.target_id}" if self.target_id is not None
                else repr(self.target) if self.target is not None else "top prediction")
        extra = f" vs {self.contrast!r}" if self.metric == "logit-diff" else ""
        return f"{what} at {where}, {self.metric}{extra}"


@dataclass
class Exploration:
    """The current trace and everything done on it. ``gen`` tags every request; results of older ones drop."""

    gen: int = 0  # newest trace request
    trace_gen: int = -1  # request that produced the trace on screen
    request: TraceRequest | None = None
    trace: Any = None
    ablations: dict[str, float] = field(default_factory=dict)  # node id -> scale, shared by every occurrence
    ablate_gen: int = 0
    ablation: Any = None  # engine AblationResult for the current ablations, or None
    verify: dict[str, Any] = field(default_factory=dict)  # parent key -> VerifyResult
    expanded: list[dict] = field(default_factory=list)  # [{"node", "offset"}] in the order they were loaded

    def reset_for(self, request: TraceRequest, trace: Any) -> None:
        self.request, self.trace = request, trace
        self.ablations, self.ablation, self.verify, self.expanded = {}, None, {}, []
        self.ablate_gen += 1

    def verify_pair(self, parent: str, node_id: str):
        result = self.verify.get(parent)
        if result is None:
            return None
        for pair in result.pairs:
            if str(pair.id) == node_id:
                return pair
        return None
