"""Faults inside the running app: cancellation, exceptions and out-of-memory in workers, terminal resizes and
real signals. The app reports each one and stays usable; nothing stale reaches the screen."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from tracer_tui.core import paths
from tracer_tui.tui.widgets.latent_tree import LatentTree

from pilot import PROMPT, SlowTracer, assert_recovers, make_app, move_to, node_rows, settle, trace_prompt, wait_for, wait_loaded

OOM = "out of memory on the device: shorten the prompt or restart tracer-tui on another device (e.g. cpu)"


async def _start_slow_trace(app, pilot, slow, prompt: str) -> None:
    slow.started.clear()
    app.prompt_input.focus()
    app.prompt_input.value = prompt
    await pilot.press("enter")
    await wait_for(pilot, slow.started.is_set)  # the trace is midway, in its thread


async def test_cancel_midway_then_again_repeatedly(bundle_dir, tiny_tracer):
    slow = SlowTracer(tiny_tracer)
    app = make_app(bundle_dir, slow)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        slow.release.set()
        await trace_prompt(app, pilot, PROMPT)
        before = app.tree.as_data()
        slow.release.clear()
        for i in range(6):
            await _start_slow_trace(app, pilot, slow, f"The Eiffel Tower {i}")
            await pilot.press("escape")
            await settle(app, pilot)
            await wait_for(pilot, lambda: slow.active == 0)  # the thread itself stopped, not just the worker
            assert app.status.last == "cancelled"
            # The old tree stays, greyed and read-only (issue 14): only its root row says so.
            assert app.tree.as_data()[1:] == before[1:] and app.ex.request.prompt == PROMPT and app.ex.stale
        # Three requests in a row, each superseding the last, then one cancel: still nothing stale.
        for i in range(3):
            await _start_slow_trace(app, pilot, slow, f"When John {i}")
        await pilot.press("escape")
        await settle(app, pilot)
        await wait_for(pilot, lambda: slow.active == 0)
        assert app.tree.as_data()[1:] == before[1:] and app.ex.stale
        assert not list(app.workers)  # no leaked worker
        slow.release.set()
        await assert_recovers(app, pilot, "When Mary")
        assert not list(app.workers) and slow.active == 0


async def test_exception_in_a_worker_is_shown_and_the_app_stays_up(bundle_dir, tiny_tracer, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        monkeypatch.setattr(tiny_tracer, "trace", boom)
        await trace_prompt(app, pilot, PROMPT)
        log = paths.log_file()
        assert app.status.last == f"trace failed: unexpected RuntimeError: boom (traceback in {log})"
        assert app.ex.trace is None and app.is_running
        monkeypatch.undo()
        await assert_recovers(app, pilot)

        # An expansion that raises: the row closes again (no "loading…" left behind) and can be retried.
        latent = next(r[2] for r in node_rows(app) if ":error@" not in r[2])
        monkeypatch.setattr(app.live_trace, "expand", boom)  # the engine call behind an expansion
        await move_to(app, pilot, latent)
        await pilot.press("l")
        await settle(app, pilot)
        assert app.status.last.startswith("expand failed: unexpected RuntimeError: boom")
        assert not any(r[1] == "loading" for r in app.tree.as_data())
        monkeypatch.undo()
        await pilot.press("l")
        await settle(app, pilot)
        assert latent in app.ex.trace.children and app.status.last.startswith("10 of ")


async def test_out_of_memory_is_reported_with_a_suggestion(bundle_dir, tiny_tracer, monkeypatch):
    import torch

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.11 GiB total)")

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        monkeypatch.setattr(tiny_tracer, "trace", oom)
        await trace_prompt(app, pilot, PROMPT)
        assert app.status.last == f"trace failed: {OOM}" and app.is_running
        monkeypatch.undo()
        await assert_recovers(app, pilot)
        monkeypatch.setattr(app.live_trace, "ablate", oom)  # the ablation's forward pass runs out of memory
        app.tree.focus()
        app.tree.cursor_line = 2  # the first node row (line 1 is the level's header)
        await pilot.press("a")
        await settle(app, pilot)
        assert app.status.last == f"ablate failed: {OOM}" and app.ex.ablation is None
        monkeypatch.undo()
        await assert_recovers(app, pilot, "When Mary")


def _usable(app) -> None:
    """Key widgets are on screen, non-empty and inside the terminal."""
    screen = app.screen.region
    for selector in ("#header", "#prompt", "#tokens", "#tree", "#status", "Footer"):
        widget = app.query_one(selector)
        region = widget.region
        assert widget.display and region.width > 0 and region.height > 0, (selector, region)
        assert screen.contains_region(region), (selector, region, screen)
    assert app.query_one(LatentTree).region.height >= 5  # room for rows, not a sliver


async def test_resize_during_a_trace_down_to_80x24(bundle_dir, tiny_tracer):
    slow = SlowTracer(tiny_tracer)
    app = make_app(bundle_dir, slow)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_loaded(app, pilot)
        await _start_slow_trace(app, pilot, slow, PROMPT)
        for size in [(120, 40), (80, 24), (200, 60), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            assert app.screen.region.size == size
            _usable(app)
        slow.release.set()
        await settle(app, pilot)
        assert app.status.last.startswith("traced ") and node_rows(app)
        _usable(app)
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        _usable(app)
        app.tree.focus()
        await pilot.press("j", "j")  # the tree still takes keys after the resizes (j steps over the level header)
        assert app.tree.cursor_line == 3


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
async def test_real_signal_saves_the_session_and_exits(bundle_dir, tiny_tracer, tui_dirs, signame):
    sig = getattr(signal, signame, None)
    if sig is None:
        pytest.skip(f"no {signame} on this platform")
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        await settle(app, pilot)
        saved = json.loads(app.session_path.read_text())["saved"]
        handler = signal.getsignal(sig)
        assert handler not in (signal.SIG_DFL, signal.SIG_IGN, None), "the app did not install its handler"
        await asyncio.sleep(0.01)
        os.kill(os.getpid(), sig)
        for _ in range(400):
            if app.return_code is not None:
                break
            await asyncio.sleep(0.01)
    assert app.return_code == 0
    data = json.loads(app.session_path.read_text())
    assert data["prompt"] == PROMPT and data["saved"] > saved  # written again on the signal


async def test_focus_changes_do_not_pile_up_footer_keys(bundle_dir, tiny_tracer):
    """Every focus change rebuilds the footer; the removed keys must be freed (a long session changes focus
    thousands of times). No race with the footer's own rebuilds: every key ever shown is tracked by a weak
    reference, and once the app is idle none but the keys still on screen may stay alive (a leak never frees
    them, so waiting for idle cannot hide one)."""
    import gc
    import weakref

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        seen: list[weakref.ref] = []
        for _ in range(6):
            for widget in (app.tree, app.prompt_input):
                widget.focus()
                await pilot.pause()
                seen += [weakref.ref(k) for k in app.query("FooterKey")]
        assert len(seen) > 12  # the footer was rebuilt with its keys at each focus change

        def removed_but_alive() -> list:
            gc.collect()
            shown = {id(k) for k in app.query("FooterKey")}
            return [k for k in (r() for r in seen) if k is not None and id(k) not in shown]

        await settle(app, pilot)
        for _ in range(50):  # idle: the last rebuild and its clean-up are done (bounded wait, no sleep race)
            if not removed_but_alive():
                break
            await pilot.pause(0.1)
        assert removed_but_alive() == []


class UiThreadWatch:
    """Stands in for the live engine Trace and records every attribute read made on the UI thread: widgets and
    handlers must draw from snapshots, while jobs (worker threads) use the live trace under the engine lock."""

    def __init__(self, trace):
        import threading

        self._trace, self._ui = trace, threading.current_thread()
        self.ui_reads: list[str] = []

    def __getattr__(self, name):
        import threading

        if threading.current_thread() is self._ui:
            self.ui_reads.append(name)
        return getattr(self._trace, name)


async def test_expand_and_verify_in_parallel_many_times(bundle_dir, tiny_tracer, monkeypatch):
    """Rows open and close while verify runs in its thread (and the ablation list is read), 30 rounds: no
    error ever ('dictionary changed size during iteration' was one), and the UI thread never reads the live trace
    that the worker threads change."""
    from textual.worker import WorkerState

    errors: list[str] = []
    worker_errors: list = []
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, "When Mary and John went to the park, John gave the ball to")
        watch = app.live_trace = UiThreadWatch(app.live_trace)
        monkeypatch.setattr(app.status, "error", errors.append)  # every error the app reports lands here
        original = type(app).on_worker_state_changed

        def track(self, event) -> None:
            if event.state == WorkerState.ERROR:
                worker_errors.append((event.worker.group, event.worker.error))
            original(self, event)

        monkeypatch.setattr(type(app), "on_worker_state_changed", track)
        latents = [r[2] for r in node_rows(app) if ":error@" not in r[2]][:3]
        assert latents
        await move_to(app, pilot, latents[0])
        await pilot.press("a")  # one ablation, so b (the ablation list) reads the node labels
        await settle(app, pilot)
        for i in range(30):
            app.tree.cursor_line = i % 2  # the root or the first row: verify under the root
            await pilot.press("v")  # runs in its thread while the rows below open and close
            for key in latents:
                await move_to(app, pilot, key)
                await pilot.press("enter")  # open (loads in a thread) or close the row
            await pilot.press("b", "escape")  # the ablation list, built while expansions and verify may run
            if i % 10 == 9:
                await settle(app, pilot)
        await settle(app, pilot)
        assert app.is_running
        assert errors == [] and worker_errors == []
        assert not [w for w in app.workers if w.state == WorkerState.ERROR]
        assert watch.ui_reads == []
        assert app.ex.verify  # verify results did arrive along the way
        assert any(k in app.ex.trace.children for k in latents)


async def test_escape_cancels_the_verify_work(bundle_dir, tiny_tracer, monkeypatch):
    """Esc stops the engine's verify itself (its should_cancel says stop), not just the display of its result."""
    import threading
    import time

    from tracer_tui.core.errors import Cancelled
    from pilot import trace_target

    app = make_app(bundle_dir, tiny_tracer)
    app.auto_verify_k = 0  # v here, not the automatic verify of the root (tests/tui/test_levels_tui.py has those)
    async with app.run_test(size=(100, 30)) as pilot:
        await trace_target(app, pilot)
        live = app.live_trace
        real = live.verify
        started, outcome = threading.Event(), []

        def verify(k=10, parent="target", should_cancel=None):
            def gate() -> bool:  # the engine's first cancel check waits until the caller cancels
                started.set()
                deadline = time.monotonic() + 30
                while not should_cancel() and time.monotonic() < deadline:
                    time.sleep(0.005)
                return should_cancel()

            try:
                result = real(k=k, parent=parent, should_cancel=gate)
            except Cancelled:
                outcome.append("cancelled")
                raise
            outcome.append("finished")
            return result

        monkeypatch.setattr(live, "verify", verify)
        app.tree.cursor_line = 0
        await pilot.press("v")
        await wait_for(pilot, started.is_set)
        await pilot.press("escape")
        await settle(app, pilot)
        await wait_for(pilot, lambda: bool(outcome))
        assert outcome == ["cancelled"]  # the engine call raised Cancelled: the work stopped
        assert app.status.last == "cancelled"
        level = app.tree.as_data()[1][4]  # the root level's header
        assert app.ex.verify == {} and "ρ" not in level and "estimates only" in level  # no result shown
        monkeypatch.undo()
        await pilot.press("v")  # verify still works afterwards
        await settle(app, pilot)
        assert "target" in app.ex.verify and "ρ" in app.tree.as_data()[1][4]
