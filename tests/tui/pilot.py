"""Pilot helpers for the TUI tests: an app factory and waiting helpers (fixtures: tests/tui/conftest.py)."""

from __future__ import annotations

import time

from tracer_tui.tui.app import TracerApp
from tracer_tui.tui.options import Options
from tracer_tui.tui.model import TraceRequest


def make_app(bundle_dir, tracer=None, **options) -> TracerApp:
    """An app on the tiny bundle; with ``tracer`` it skips loading (the factory hands the loaded one over)."""
    options.setdefault("show_timings", False)
    options.setdefault("page_rows", 10)  # the tests count on pages of 10; None (the app's default) fits the screen
    factory = (lambda progress: tracer) if tracer is not None else None
    return TracerApp(Options(model=str(bundle_dir), **options), tracer_factory=factory)


async def settle(app, pilot, timeout: float = 60.0) -> None:
    """Wait until every worker is done and the messages they posted are handled."""
    deadline = time.monotonic() + timeout
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            return
        if time.monotonic() > deadline:
            raise TimeoutError("workers did not finish")


async def wait_loaded(app, pilot, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while app.tracer is None:
        await pilot.pause(0.05)
        if time.monotonic() > deadline:
            raise TimeoutError(f"model did not load: {app.status.last}")
    await settle(app, pilot)


async def trace_prompt(app, pilot, prompt: str) -> None:
    app.prompt_input.focus()
    app.prompt_input.value = prompt
    await pilot.press("enter")
    await settle(app, pilot)


def node_rows(app):
    return [r for r in app.tree.as_data() if r[1] == "node"]


async def move_to(app, pilot, key: str) -> None:
    """Put the tree cursor on the first row showing node ``key``."""
    for line in range(app.tree.last_line + 1):
        node = app.tree.get_node_at_line(line)
        if node is not None and node.data is not None and node.data.key == key:
            app.tree.cursor_line = line
            await pilot.pause()
            return
    raise AssertionError(f"{key} is not in the tree")


PROMPT = "When Mary and John"


async def trace_target(app, pilot, target: str = " Mary", prompt: str = PROMPT) -> None:
    """Wait for the model, trace ``prompt`` for ``target`` and leave the focus on the tree."""
    await wait_loaded(app, pilot)
    app.request_trace(TraceRequest(prompt, target=target))
    app.tree.focus()
    await settle(app, pilot)


async def assert_recovers(app, pilot, prompt: str = PROMPT) -> None:
    """After an error: the app is up, and a new valid trace from the prompt box reaches the tree."""
    assert app.is_running
    await trace_prompt(app, pilot, prompt)
    assert app.status.last.startswith("traced "), app.status.last
    assert app.ex.request.prompt == prompt and node_rows(app)


class SlowTracer:
    """Wraps a Tracer so each trace (and contrast) stops at its engine's cancel checks and waits there until
    ``release`` is set or the caller cancels. ``started`` is set at the first check; how many checks the engine
    makes does not matter (every check waits while ``release`` is unset). ``active`` counts calls still running
    in a thread."""

    def __init__(self, tracer):
        import threading

        self._tracer = tracer
        self.started = threading.Event()
        self.release = threading.Event()
        self.active = 0

    def __getattr__(self, name):
        return getattr(self._tracer, name)

    def trace(self, *args, should_cancel=None, **kwargs):
        return self._gated(self._tracer.trace, args, should_cancel, kwargs)

    def contrast(self, *args, should_cancel=None, **kwargs):
        return self._gated(self._tracer.contrast, args, should_cancel, kwargs)

    def _gated(self, call, args, should_cancel, kwargs):
        def gate() -> bool:
            if not self.release.is_set():
                self.started.set()
                deadline = time.monotonic() + 30
                while not self.release.is_set() and not should_cancel() and time.monotonic() < deadline:
                    time.sleep(0.005)
            return should_cancel()

        self.active += 1
        try:
            return call(*args, should_cancel=gate, **kwargs)
        finally:
            self.active -= 1


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await pilot.pause(0.01)
