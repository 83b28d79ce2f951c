"""Messages that thread workers post back to the app. Every result carries the generation it belongs to,
so a stale or cancelled result is dropped on arrival instead of reaching the screen."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class LoadProgress(Message):
    def __init__(self, step: str, frac: float):
        super().__init__()
        self.step, self.frac = step, frac

    def can_replace(self, message: Message) -> bool:  # only the newest progress matters
        return isinstance(message, LoadProgress)


class Loaded(Message):
    def __init__(self, tracer: Any, seconds: float):
        super().__init__()
        self.tracer, self.seconds = tracer, seconds


class Tokenized(Message):
    def __init__(self, prompt: str, tokens: list[str]):
        super().__init__()
        self.prompt, self.tokens = prompt, tokens


class Traced(Message):
    def __init__(self, gen: int, request: Any, trace: Any, seconds: float, replay: Any = None):
        super().__init__()
        self.gen, self.request, self.trace, self.seconds, self.replay = gen, request, trace, seconds, replay


class Expanded(Message):
    def __init__(self, gen: int, parent: str, offset: int, nodes: list, total: int, tree_node: Any):
        super().__init__()
        self.gen, self.parent, self.offset, self.nodes, self.total = gen, parent, offset, nodes, total
        self.tree_node = tree_node


class Ablated(Message):
    def __init__(self, gen: int, ablate_gen: int, result: Any):
        super().__init__()
        self.gen, self.ablate_gen, self.result = gen, ablate_gen, result


class Verified(Message):
    def __init__(self, gen: int, result: Any):
        super().__init__()
        self.gen, self.result = gen, result


class DetailsReady(Message):
    def __init__(self, gen: int, node_id: str, details: dict):
        super().__init__()
        self.gen, self.node_id, self.details = gen, node_id, details


class WorkFailed(Message):
    def __init__(self, gen: int, what: str, message: str, tree_node: Any = None):
        super().__init__()
        self.gen, self.what, self.message, self.tree_node = gen, what, message, tree_node


class Notice(Message):
    def __init__(self, text: str, error: bool = False):
        super().__init__()
        self.text, self.error = text, error


class JobProgress(Message):
    """Progress of a contrast-screen job (sampling, attribution, steering)."""

    def __init__(self, gen: int, step: str, frac: float):
        super().__init__()
        self.gen, self.step, self.frac = gen, step, frac

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress)


class JobDone(Message):
    """A contrast-screen job's result (what ``ContrastJobs._job`` posts), tagged with the screen's job generation."""

    def __init__(self, gen: int, result: Any, seconds: float):
        super().__init__()
        self.gen, self.result, self.seconds = gen, result, seconds


class ContrastReady(JobDone):
    """result: the engine's Contrast."""


class Steered(JobDone):
    """result: the engine's SteerResult."""


class Focused(JobDone):
    """Where a contrast latent matters most in a completion: result = (latent id, Focus or None)."""
