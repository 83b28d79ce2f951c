"""Messages that thread workers post back to the app: one class per outcome. Every result carries the generation
it belongs to, so a stale or cancelled result is dropped on arrival instead of reaching the screen. Results carry
immutable records (``model``), never a live engine object that a worker may still change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.message import Message


# ---- loading ----------------------------------------------------------------------------------------------------
@dataclass
class LoadProgress(Message):
    step: str
    frac: float

    def can_replace(self, message: Message) -> bool:  # only the newest progress matters
        return isinstance(message, LoadProgress)


@dataclass
class Loaded(Message):
    tracer: Any
    seconds: float


@dataclass
class Tokenized(Message):
    prompt: str
    tokens: list[str]


# ---- results ----------------------------------------------------------------------------------------------------
@dataclass
class Traced(Message):
    gen: int
    request: Any  # model.TraceRequest
    trace: Any  # model.TraceSnapshot
    live: Any  # the engine Trace, for later jobs only (widgets never read it)
    seconds: float
    replay: Any = None  # model.Exploration fields restored from a session (expanded, ablations, ablation)


@dataclass
class Expanded(Message):
    gen: int
    page: Any  # model.Page
    tree_node: Any


@dataclass
class Ablated(Message):
    gen: int
    ablate_gen: int
    result: Any  # core.nodes.AblationResult (immutable)
    inactive: frozenset = frozenset()  # ablated latents that the other ablations already switch off


@dataclass
class Verified(Message):
    gen: int
    result: Any  # core.nodes.VerifyResult (immutable)
    seq: int = 0  # the level's verify request (app.verify_seq): an older or cancelled one is dropped
    auto: bool = False  # started by the level appearing (not by v)
    page: Any = None  # model.Page of rows v loaded to verify more of the level, or None


@dataclass
class DetailsReady(Message):
    gen: int
    node_id: str
    details: Any  # read-only mapping


@dataclass
class GroupResolved(Message):
    """The nodes one key ablates (A, E, or a in mean mode) with their scales, ready to apply."""

    gen: int
    what: str  # for the status line: "the top 5 of target", "L1:12 at 3 positions"
    scales: dict  # node id -> scale (0: zero; ā/a: to the mean activation)
    means: Any = None  # the latent means the job computed (kept by the app for the next mean ablation)


@dataclass
class Notice(Message):
    text: str
    error: bool = False


# ---- failures: one class per outcome ------------------------------------------------------------------------------
@dataclass
class JobFailed(Message):
    """Base of every failure; ``text`` is the status line ("<what> failed: <why>")."""

    gen: int
    message: str
    what: ClassVar[str] = "work"

    @property
    def text(self) -> str:
        return f"{self.what} failed: {self.message}"


@dataclass
class LoadFailed(JobFailed):
    what: ClassVar[str] = "load"


@dataclass
class TraceFailed(JobFailed):
    what: ClassVar[str] = "trace"


@dataclass
class ResumeFailed(JobFailed):
    """A session's trace or its replay failed (the session file is left unchanged)."""

    what: ClassVar[str] = "resume"


@dataclass
class ExpandFailed(JobFailed):
    tree_node: Any = None
    what: ClassVar[str] = "expand"


@dataclass
class AblateFailed(JobFailed):
    ablate_gen: int = 0
    what: ClassVar[str] = "ablate"


@dataclass
class GroupFailed(JobFailed):
    what: ClassVar[str] = "ablate"


@dataclass
class VerifyFailed(JobFailed):
    parent: str = ""
    seq: int = 0
    what: ClassVar[str] = "verify"


@dataclass
class Located(Message):
    """Where a latent opened from the contrast screen sits in the tree: path (root row ... node) or None."""

    gen: int
    latent: str
    path: Any  # tuple of node ids, or None
    trace: Any  # model.TraceSnapshot including the levels the search loaded


@dataclass
class DetailsFailed(JobFailed):
    what: ClassVar[str] = "details"


@dataclass
class ExportFailed(JobFailed):
    what: ClassVar[str] = "export"


# ---- contrast screen ----------------------------------------------------------------------------------------------
@dataclass
class JobProgress(Message):
    """Progress of a contrast-screen job (sampling, attribution, steering)."""

    gen: int
    step: str
    frac: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgress)


@dataclass
class JobDone(Message):
    """A contrast-screen job's result, tagged with the screen's job generation."""

    gen: int
    result: Any
    seconds: float


class ContrastReady(JobDone):
    """result: the engine's Contrast."""


class Steered(JobDone):
    """result: the engine's SteerResult."""


class Focused(JobDone):
    """Where a contrast latent matters most in a completion: result = (latent id, Focus or None)."""


@dataclass
class ContrastFailed(JobFailed):
    """A contrast-screen job failed; ``step`` names it for the status line (sample, mode, add, steer, open)."""

    step: str = "contrast"

    @property
    def text(self) -> str:
        return f"{self.step} failed: {self.message}"
