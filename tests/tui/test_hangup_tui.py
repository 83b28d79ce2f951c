"""Quit and signals while the engine is stuck: the app exits within the bound (tui/shutdown.py), never blocking its
event loop on a lock a worker holds. The real process in a real terminal: tests/test_hangup_tmux.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time

import pytest

from tracer_tui.core.session import load_session
from tracer_tui.tui import shutdown

from pilot import PROMPT, make_app, settle, trace_prompt, wait_for, wait_loaded


class StuckTracer:
    """Wraps a Tracer: while ``stuck`` is set, a trace holds the engine and ignores cancellation (as one long torch
    call does) until ``release`` is set (30 s at most)."""

    def __init__(self, tracer):
        self._tracer = tracer
        self.stuck, self.inside, self.release = threading.Event(), threading.Event(), threading.Event()

    def __getattr__(self, name):
        return getattr(self._tracer, name)

    def trace(self, *args, **kwargs):
        if self.stuck.is_set():
            self.inside.set()
            self.release.wait(30)
        return self._tracer.trace(*args, **kwargs)


async def _wait_exit(app, seconds: float = 30.0) -> float:
    start = time.monotonic()
    while app.return_code is None and time.monotonic() - start < seconds:
        await asyncio.sleep(0.01)
    return time.monotonic() - start


@pytest.mark.parametrize("signame", ["SIGHUP", "SIGTERM"])
async def test_signal_while_a_worker_holds_the_engine_exits_within_the_bound(bundle_dir, tiny_tracer, signame):
    """A trace stuck in the engine holds its lock, and an autosave waits behind it holding the save lock. The
    signal used to block the event loop on that save lock until the trace ended (the hang of issue #15)."""
    sig = getattr(signal, signame, None)
    if sig is None:
        pytest.skip(f"no {signame} here")
    stuck = StuckTracer(tiny_tracer)
    app = make_app(bundle_dir, stuck)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_loaded(app, pilot)
            await trace_prompt(app, pilot, PROMPT)
            await settle(app, pilot)
            before = app.session_path.read_text()
            stuck.stuck.set()
            app.prompt_input.focus()
            app.prompt_input.value = "The Eiffel Tower is in"
            await pilot.press("enter")
            await wait_for(pilot, stuck.inside.is_set)
            app.autosave()  # this save job takes the save lock, then waits for the engine
            await pilot.pause(0.1)
            os.kill(os.getpid(), sig)
            took = await _wait_exit(app)
    finally:
        stuck.release.set()
    assert took < shutdown.EXIT_BOUND_S, f"exit took {took:.1f} s"
    assert app.return_code == 1  # the engine never came free: not saved, and the exit code says so
    assert app.session_path.read_text() == before  # the last autosave is intact
    assert load_session(app.session_path).prompt == PROMPT


async def test_quit_saves_then_exits(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        saved = json.loads(app.session_path.read_text())["saved"]
        app.tree.focus()
        await pilot.press("q")
        took = await _wait_exit(app)
    assert app.return_code == 0 and took < shutdown.EXIT_BOUND_S
    after = load_session(app.session_path)
    assert after.prompt == PROMPT and after.saved > saved


def test_closer_leaves_when_the_app_does_not_exit():
    """The process-level part on its own: the app ignores the exit request, so the closer leaves at the bound;
    a second request leaves at once. ``leave`` is recorded instead of ending the test process."""
    left: list[tuple[int, float]] = []
    start = time.monotonic()
    closer = shutdown.Closer(lambda: None, lambda timeout: True, lambda code: None,
                             lambda code: left.append((code, time.monotonic() - start)))
    closer.request("test")
    deadline = time.monotonic() + 10
    while not left and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left and left[0][0] == 0 and shutdown.EXIT_BOUND_S - 0.1 <= left[0][1] < shutdown.EXIT_BOUND_S + 1.0

    left.clear()
    release = threading.Event()
    start = time.monotonic()
    closer = shutdown.Closer(lambda: None, lambda timeout: release.wait(30), lambda code: None,
                             lambda code: left.append((code, time.monotonic() - start)))
    closer.request("first signal")
    time.sleep(0.2)
    closer.request("second signal")  # while the save is still stuck
    while not left and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    assert left and left[0][0] == 1 and left[0][1] < 1.0  # not saved (code 1), and at once
