"""Contrast-screen engine work in thread workers (mixed into ``ContrastScreen``).

Same rules as ``jobs.EngineJobs`` and the same runner (``jobs.run_job``): every result is a message tagged with
the screen's job generation, stale ones are dropped by the screen, the engine runs under the app's engine lock,
and jobs never touch widgets.
"""

from __future__ import annotations

from textual import work
from textual.worker import get_current_worker

from .jobs import run_job
from .messages import ContrastFailed, ContrastReady, Focused, JobProgress, Steered

GROUP = "contrast-screen"


class ContrastJobs:
    """``self.app.tracer``, ``self.app.engine_lock`` and ``self.gen`` (the current job generation) are needed."""

    def _job(self, gen: int, what: str, call, done) -> None:
        worker = get_current_worker()

        def cancelled() -> bool:
            return worker.is_cancelled or gen != self.gen

        def progress(step: str, frac: float) -> None:
            if not cancelled():
                self.post_message(JobProgress(gen, step, frac))

        run_job(self.post_message, self.app.engine_lock, cancelled,
                lambda: call(self.app.tracer, progress, cancelled),
                lambda result, seconds: done(gen, result, seconds), lambda why: ContrastFailed(gen, why, what))

    @work(thread=True, exclusive=True, group=GROUP, exit_on_error=False)
    def contrast_job(self, gen: int, what: str, prompt: str, **kwargs) -> None:
        """Sample (``samples``) or re-attribute given ``completions`` (mode switch): posts ContrastReady."""
        self._job(gen, what, lambda tracer, progress, cancelled: tracer.contrast(
            prompt, progress=progress, should_cancel=cancelled, **kwargs), ContrastReady)

    @work(thread=True, exclusive=True, group=GROUP, exit_on_error=False)
    def extend_job(self, gen: int, contrast, completions: list) -> None:
        """Attribute only the added ``completions`` and append them to ``contrast``: posts ContrastReady."""
        self._job(gen, "add", lambda tracer, progress, cancelled: contrast.extend(
            completions, progress=progress, should_cancel=cancelled), ContrastReady)

    @work(thread=True, exclusive=True, group=GROUP, exit_on_error=False)
    def steer_job(self, gen: int, prompt: str, latent: str, **kwargs) -> None:
        self._job(gen, "steer", lambda tracer, progress, cancelled: tracer.steer(
            prompt, latent, progress=progress, should_cancel=cancelled, **kwargs), Steered)

    @work(thread=True, exclusive=True, group=GROUP, exit_on_error=False)
    def focus_job(self, gen: int, contrast, index: int, latent: str) -> None:
        """Where ``latent`` matters most in completion ``index`` (one forward and backward pass): posts Focused."""
        self._job(gen, "open", lambda tracer, progress, cancelled: (latent, contrast.focus(index, latent)), Focused)
