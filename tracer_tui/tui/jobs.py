"""Engine work in thread workers. Each job posts its result as a message tagged with a generation number;
the app drops results whose generation is no longer current. Jobs never touch widgets."""

from __future__ import annotations

import time

from textual import work
from textual.worker import get_current_worker

from ..core.nodes import TARGET
from .wording import describe
from .messages import (Ablated, DetailsReady, Expanded, Loaded, LoadProgress, Notice, Tokenized, Traced, Verified,
                       WorkFailed)



def replay(trace, expanded: list[dict], ablations: dict[str, float], top_k: int, cancelled):
    """Re-expand saved nodes (first pages batched in one backward pass) and re-apply ablations."""
    firsts = list(dict.fromkeys(e["node"] for e in expanded if e["offset"] == 0 and e["node"] != TARGET))
    if firsts:
        trace.expand(firsts, top_k=top_k)
    for e in expanded:
        if cancelled():
            return None
        if e["offset"] > 0:
            trace.more(e["node"], top_k=top_k, offset=e["offset"])
    return trace.ablate(dict(ablations)) if ablations else None


class EngineJobs:
    """Mixed into the App. ``self.tracer``, ``self.engine_lock`` and ``self.ex`` (Exploration) live there."""

    top_k = 10

    def _fail(self, gen: int, what: str, err: BaseException, tree_node=None) -> None:
        self.post_message(WorkFailed(gen, what, describe(err), tree_node))

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def load_job(self, factory) -> None:
        start = time.perf_counter()
        try:
            tracer = factory(lambda step, frac: self.post_message(LoadProgress(step, frac)))
        except Exception as err:
            self._fail(-1, "load", err)
            return
        self.post_message(Loaded(tracer, time.perf_counter() - start))

    @work(thread=True, exclusive=True, group="tokenize", exit_on_error=False)
    def tokenize_job(self, prompt: str) -> None:
        worker = get_current_worker()
        time.sleep(0.05)  # debounce typing
        if worker.is_cancelled or not prompt:
            return
        try:
            with self.engine_lock:
                tokens = self.tracer.tokenize(prompt)
        except Exception:  # a prompt that cannot be tokenized shows its error when traced
            return
        if not worker.is_cancelled:
            self.post_message(Tokenized(prompt, tokens))

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def trace_job(self, gen: int, request, session=None) -> None:
        from ..core.errors import Cancelled

        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled or gen != self.ex.gen

        start = time.perf_counter()
        extra = None
        try:
            with self.engine_lock:
                if cancelled():
                    return
                trace = self.tracer.trace(request.prompt, target=request.target, target_id=request.target_id,
                                          position=request.position, metric=request.metric,
                                          foil=request.contrast if request.metric == "logit-diff" else None,
                                          top_k=self.top_k, should_cancel=cancelled)
                if session is not None and not cancelled():
                    extra = {"expanded": list(session.expanded), "ablations": dict(session.ablations)}
                    extra["ablation"] = replay(trace, session.expanded, session.ablations, self.top_k, cancelled)
        except Cancelled:
            return
        except Exception as err:
            if not cancelled():
                self._fail(gen, "trace" if session is None else "resume", err)
            return
        if not cancelled():
            self.post_message(Traced(gen, request, trace, time.perf_counter() - start, extra))

    @work(thread=True, group="expand", exit_on_error=False)
    def expand_job(self, gen: int, trace, key: str, offset: int, tree_node) -> None:
        try:
            with self.engine_lock:
                if gen != self.ex.trace_gen:
                    return
                nodes = trace.more(key, top_k=self.top_k, offset=offset)
                total = trace.totals.get(key, len(nodes))
        except Exception as err:
            self._fail(gen, "expand", err, tree_node)
            return
        self.post_message(Expanded(gen, key, offset, nodes, total, tree_node))

    @work(thread=True, exclusive=True, group="ablate", exit_on_error=False)
    def ablate_job(self, gen: int, ablate_gen: int, trace, ablations: dict[str, float]) -> None:
        try:
            with self.engine_lock:
                if ablate_gen != self.ex.ablate_gen:
                    return
                result = trace.ablate(ablations)
        except Exception as err:
            self._fail(gen, "ablate", err)
            return
        self.post_message(Ablated(gen, ablate_gen, result))

    @work(thread=True, exclusive=True, group="verify", exit_on_error=False)
    def verify_job(self, gen: int, trace, parent: str, k: int) -> None:
        worker = get_current_worker()
        try:
            with self.engine_lock:
                if worker.is_cancelled:
                    return
                result = trace.verify(k=k, parent=parent)
        except Exception as err:
            self._fail(gen, "verify", err)
            return
        if not worker.is_cancelled:
            self.post_message(Verified(gen, result))

    @work(thread=True, exclusive=True, group="details", exit_on_error=False)
    def details_job(self, gen: int, trace, node) -> None:
        from .widgets.details import node_details

        worker = get_current_worker()
        time.sleep(0.03)  # debounce: holding j/k should not queue one job per row
        if worker.is_cancelled:
            return
        try:
            with self.engine_lock:
                details = node_details(trace, node)
        except Exception as err:
            self._fail(gen, "details", err)
            return
        if not worker.is_cancelled:
            self.post_message(DetailsReady(gen, str(node.id), details))

    @work(thread=True, group="export", exit_on_error=False)
    def export_job(self, gen: int, trace, path: str) -> None:
        from ..engine.graph import export_graph

        try:
            with self.engine_lock:
                written = export_graph(trace.graph(), path)
        except Exception as err:
            self._fail(gen, "export", err)
            return
        self.post_message(Notice(f"graph exported to {written}"))

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
