"""Engine work in thread workers. Each job posts its result as a message tagged with a generation number;
the app drops results whose generation is no longer current. Jobs never touch widgets, and the messages carry
immutable records built under the engine lock (``model.snapshot``, ``model.page``), never a live object.

``run_job`` is the one runner every job (here and in ``contrast_jobs``) goes through: cancel check, engine lock,
the engine call, and an error turned into the job's own failure message.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from ..core.defaults import DEFAULT_TOP_K
from ..core.errors import TracerError
from ..core.nodes import TARGET
from . import model
from .messages import (AblateFailed, Ablated, DetailsFailed, DetailsReady, ExpandFailed, Expanded, ExportFailed,
                       GroupFailed, GroupResolved, Loaded, LoadFailed, LoadProgress, Located, Notice, ResumeFailed,
                       Tokenized, TraceFailed, Traced, Verified, VerifyFailed)
from .wording import describe


def run_job(post: Callable[[Message], object], lock, cancelled: Callable[[], bool], call: Callable[[], object],
            done: Callable[[object, float], Message | None], failed: Callable[[str], Message | None]) -> None:
    """Run ``call()`` under ``lock`` unless cancelled; post ``done(result, seconds)`` or ``failed(why)``.

    A cancelled job posts nothing: the engine's ``Cancelled`` (raised when ``should_cancel`` says stop) and any
    result or error that arrives after cancelling are dropped.
    """
    from ..core.errors import Cancelled

    start = time.perf_counter()
    try:
        with lock:
            if cancelled():
                return
            result = call()
    except Cancelled:
        return
    except Exception as err:
        message = None if cancelled() else failed(describe(err))
        if message is not None:
            post(message)
        return
    if not cancelled():
        message = done(result, time.perf_counter() - start)
        if message is not None:
            post(message)


def replay(trace, expanded, ablations: dict[str, float], top_k: int, cancelled, progress=None):
    """Re-expand saved pages and re-apply ablations; None for the ablation when there is none.

    Pages with the same offset go together in one bounded ``Trace.expand`` (chunks sized to memory; a cancel is
    honoured between chunks), offsets in increasing order, so each node's pages come back in the order they were
    loaded. ``progress(done, total)`` counts the latents' pages replayed (the root's cost no backward pass).
    """
    from ..core.errors import check_cancel

    pages: dict[int, dict[str, None]] = {}  # offset -> its nodes, in order, once each
    for e in expanded:
        if e.node != TARGET or e.offset > 0:  # the root's first page comes with the trace
            pages.setdefault(e.offset, {})[e.node] = None
    total, done = sum(len(nodes) - (TARGET in nodes) for nodes in pages.values()), 0
    for offset, nodes in sorted(pages.items()):
        check_cancel(cancelled)
        if TARGET in nodes:  # a page of the root: no backward pass
            trace.more(TARGET, top_k=top_k, offset=offset)
        latents = [n for n in nodes if n != TARGET]
        trace.expand(latents, top_k=top_k, offset=offset, should_cancel=cancelled,
                     progress=_counted(progress, done, total))
        done += len(latents)
    check_cancel(cancelled)
    return trace.ablate(dict(ablations)) if ablations else None


def _counted(progress, before: int, total: int):
    """``Trace.expand``'s progress(done, its total) as progress over the whole replay."""
    return None if progress is None else lambda n, _of: progress(before + n, total)


class EngineJobs:
    """Mixed into the App. ``self.tracer``, ``self.engine_lock``, ``self.gen`` (newest trace request),
    ``self.trace_gen`` (the trace on screen), ``self.ablate_gen`` and ``self.closing`` live there."""

    top_k = DEFAULT_TOP_K

    def _run(self, cancelled, call, done, failed) -> None:
        run_job(self.post_message, self.engine_lock, cancelled, call, done, failed)

    def _cancel_check(self, still_current: Callable[[], bool] = lambda: True) -> Callable[[], bool]:
        worker = get_current_worker()
        return lambda: worker.is_cancelled or self.closing or not still_current()  # closing: quit or a signal

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_job(self, factory) -> None:
        start = time.perf_counter()
        try:
            tracer = factory(lambda step, frac: self.post_message(LoadProgress(step, frac)))
        except Exception as err:
            self.post_message(LoadFailed(-1, describe(err)))
            return
        self.post_message(Loaded(tracer, time.perf_counter() - start))

    @work(thread=True, exclusive=True, group="tokenize", exit_on_error=False)
    def tokenize_job(self, prompt: str) -> None:
        worker = get_current_worker()
        time.sleep(0.05)  # debounce typing
        if worker.is_cancelled or not prompt:
            return
        # A prompt that cannot be tokenized shows its error when traced: a failure posts nothing.
        self._run(lambda: worker.is_cancelled, lambda: self.tracer.tokenize(prompt),
                  lambda tokens, _s: Tokenized(prompt, tokens), lambda _why: None)

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def trace_job(self, gen: int, request, session=None) -> None:
        cancelled = self._cancel_check(lambda: gen == self.gen)

        def progress(done: int, total: int) -> None:
            if not cancelled():
                self.post_message(Notice(f"replaying {done}/{total} expansions… (Esc cancels)"))

        def call():
            trace = self.tracer.trace(request.prompt, target=request.target, target_id=request.target_id,
                                      position=request.position, metric=request.metric,
                                      foil=request.foil if request.metric == "logit-diff" else None,
                                      top_k=self.top_k, should_cancel=cancelled, upstream=request.upstream)
            extra = None
            if session is not None and not cancelled():
                expanded = tuple(model.Expansion(e["node"], e["offset"]) for e in session.expanded)
                ablation = replay(trace, expanded, session.ablations, self.top_k, cancelled, progress)
                extra = {"expanded": expanded, "ablations": model.frozen_map(session.ablations),
                         "ablation": ablation, "pins": tuple(session.pins), "notes": model.frozen_map(session.notes),
                         "mean_scales": model.frozen_map({k: session.ablations[k] for k in session.mean_ablated
                                                          if k in session.ablations}),
                         "filter": session.filter, "sort": model.frozen_map(session.sort)}
            return trace, model.snapshot(trace), extra

        failure = TraceFailed if session is None else ResumeFailed
        self._run(cancelled, call,
                  lambda r, seconds: Traced(gen, request, r[1], r[0], seconds, r[2]),
                  lambda why: failure(gen, why))

    @work(thread=True, group="expand", exit_on_error=False)
    def expand_job(self, gen: int, trace, key: str, offset: int, tree_node) -> None:
        cancelled = self._cancel_check(lambda: gen == self.trace_gen)

        def call():
            if key == TARGET:
                nodes = trace.more(key, top_k=self.top_k, offset=offset)
            else:
                nodes = trace.expand([key], top_k=self.top_k, offset=offset, should_cancel=cancelled)[key]
            return model.page(trace, key, offset, nodes)

        self._run(cancelled, call, lambda page, _s: Expanded(gen, page, tree_node),
                  lambda why: ExpandFailed(gen, why, tree_node))

    @work(thread=True, exclusive=True, group="ablate", exit_on_error=False)
    def ablate_job(self, gen: int, ablate_gen: int, trace, ablations: dict[str, float]) -> None:
        cancelled = self._cancel_check(lambda: ablate_gen == self.ablate_gen and gen == self.trace_gen)

        def call():
            result = trace.ablate(ablations)
            # With two or more, one may switch another off: that one's own scale then changes nothing.
            under = trace.activations_under(ablations, list(ablations)) if len(ablations) > 1 else {}
            inactive = frozenset(k for k, a in under.items() if a == 0.0 and trace.activation(k) != 0.0)
            return result, inactive

        self._run(cancelled, call,
                  lambda r, _s: Ablated(gen, ablate_gen, r[0], r[1]),
                  lambda why: AblateFailed(gen, why, ablate_gen))

    @work(thread=True, exclusive=True, group="group", exit_on_error=False)
    def group_job(self, gen: int, trace, what: str, ids: list[str] | None, everywhere: str | None,
                  mean: bool, means=None) -> None:
        """Resolve a group ablation: ``ids``, or the latent ``everywhere`` at each position where it is active;
        scale 0, or (``mean``) the scale to each latent's mean activation (computed once, then ``means``)."""
        from ..engine import groups

        cancelled = self._cancel_check(lambda: gen == self.trace_gen)

        def call():
            nodes = groups.active_positions(trace, everywhere) if everywhere is not None else list(ids)
            if not mean:
                return {n: 0.0 for n in nodes}, means
            found = means if means is not None else groups.latent_means(trace.tracer, should_cancel=cancelled)
            return groups.mean_scales(trace, nodes, found), found

        self._run(cancelled, call, lambda r, _s: GroupResolved(gen, what, r[0], r[1]),
                  lambda why: GroupFailed(gen, why))

    @work(thread=True, group="verify", exit_on_error=False)
    def verify_job(self, gen: int, seq: int, trace, parent: str, k: int, auto: bool = False, more: int = 0) -> None:
        """Real single ablations of ``parent``'s top ``k`` children, after loading ``more`` of its rows (v asks
        for more rows than a page holds). One job per level (``seq`` = the level's newest request in
        ``self.verify_seq``): Esc, a new trace or closing the level cancels the worker, the engine sees it
        through ``should_cancel`` between chunks, and anything it still posts is dropped."""
        cancelled = self._cancel_check(lambda: gen == self.trace_gen and self.verify_seq.get(parent) == seq)

        def call():
            loaded = None
            if more > 0:
                offset = len(trace.children.get(parent, []))
                loaded = model.page(trace, parent, offset, trace.more(parent, top_k=more, offset=offset))
            return trace.verify(k=k, parent=parent, should_cancel=cancelled), loaded

        self._run(cancelled, call, lambda r, _s: Verified(gen, r[0], seq, auto, r[1]),
                  lambda why: VerifyFailed(gen, why, parent, seq))

    @work(thread=True, exclusive=True, group="locate", exit_on_error=False)
    def locate_job(self, gen: int, trace, latent: str) -> None:
        """Search the tree for a latent (``Trace.path_to``) and snapshot the levels the search loaded. Esc or a
        newer trace request stops it between levels."""
        cancelled = self._cancel_check(lambda: gen == self.trace_gen == self.gen)

        def call():
            path = trace.path_to(latent, top_k=self.top_k, should_cancel=cancelled)
            return (tuple(path) if path else None), model.snapshot(trace)

        self._run(cancelled, call, lambda r, _s: Located(gen, latent, r[0], r[1]),
                  lambda why: Notice(f"looking for {latent} failed: {why}", error=True))

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def details_job(self, gen: int, trace, node_id) -> None:
        from .widgets.details import node_details

        worker = get_current_worker()
        time.sleep(0.03)  # debounce: holding j/k should not queue one job per row
        cancelled = self._cancel_check(lambda: gen == self.trace_gen)
        if worker.is_cancelled:
            return
        self._run(cancelled, lambda: node_details(trace, node_id),
                  lambda details, _s: DetailsReady(gen, str(node_id), details), lambda why: DetailsFailed(gen, why))

    @work(thread=True, group="export", exit_on_error=False)
    def export_job(self, gen: int, trace, path: str, extras: dict) -> None:
        """``extras``: what the session holds beside the graph (``build_graph``'s ablations, ablation, verify)."""
        from ..engine.graph import build_graph, export_graph

        def write():
            try:
                return export_graph(build_graph(trace, **extras), path)
            except OSError as err:  # a read-only folder, a full disk: the user's to fix, not a bug
                raise TracerError(f"cannot write {path!r}: {err.strerror or err}") from None

        self._run(lambda: False, write,
                  lambda written, _s: Notice(f"exported {written.name} to {written.parent}"),
                  lambda why: ExportFailed(gen, why))

    @work(thread=True, group="save", exit_on_error=False)
    def save_job(self, seq: int, snapshot) -> None:
        """Write the session; only the newest snapshot is written when saves queue up."""
        with self.save_lock:
            if seq != self.save_seq:
                return
            try:
                with self.engine_lock:
                    session = snapshot()
                if session is not None:
                    self.write_session(session)
            except Exception as err:
                self.post_message(Notice(f"session not saved: {describe(err)}", error=True))
