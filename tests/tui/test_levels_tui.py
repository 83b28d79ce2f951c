"""Levels in the TUI: each new level is verified by real ablations (auto-verify), estimated and actual Δ side by
side, the level's ρ and sign agreement, sorting by actual Δ, cancelling, the upstream mode, density, and opening a
latent that sits below the root (``Trace.path_to``). Real app, real engine (tiny seeded bundle; the demo at 80x24).
"""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from rich.console import Console
from scipy.stats import spearmanr

from tracer_tui.core.defaults import AUTO_VERIFY_K, DENSE_THRESHOLD
from tracer_tui.core.nodes import TARGET
from tracer_tui.demo import bundle_dir as demo_bundle_dir
from tracer_tui.engine.density import format_density
from tracer_tui.engine.tracer import Tracer
from tracer_tui.tui import format as fmt

from pilot import make_app, move_to, node_rows, settle, trace_prompt, trace_target, wait_for, wait_loaded

PROMPT = "When Mary and John went to the park, John gave the ball to"
DEMO = demo_bundle_dir()
EIFFEL = "The Eiffel Tower is in the city of"


@pytest.fixture(scope="module")
def independent(bundle_dir):
    """A second Tracer, loaded separately, to check the UI's numbers against direct engine calls."""
    return Tracer.load(model=str(bundle_dir))


def rows_of(app, parent: str = TARGET):
    """(node id, label) of the rows at level ``parent``, in the order shown."""
    out = []
    for line in range(app.tree.last_line + 1):
        node = app.tree.get_node_at_line(line)
        data = node.data if node is not None else None
        if data is not None and data.kind == "node" and data.parent == parent:
            out.append((data.key, app.tree.row_text(data).plain))
    return out


def header_of(app, parent: str = TARGET) -> str:
    return next(text for kind, key, text in _headers(app) if key == parent)


def _headers(app):
    for line in range(app.tree.last_line + 1):
        node = app.tree.get_node_at_line(line)
        data = node.data if node is not None else None
        if data is not None and data.kind == "level":
            yield "level", data.parent, app.tree.row_text(data).plain


async def test_root_level_shows_actual_delta_of_real_single_ablations(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)  # waits for the auto-verify too
        ref = independent.trace(PROMPT)
        v = app.ex.verify[TARGET]
        top = [str(n.id) for n in ref.nodes[:AUTO_VERIFY_K]]
        assert [str(p.id) for p in v.pairs] == top
        shown = dict(rows_of(app))
        for p in v.pairs:
            direct = ref.ablate({str(p.id): 0.0})  # the node alone, removed for real
            assert p.actual == pytest.approx(direct.delta, rel=1e-4, abs=1e-5)
            assert p.estimated == pytest.approx(direct.estimated_delta, rel=1e-6, abs=1e-9)
            assert f"{fmt.signed(p.estimated):>7} {fmt.signed(direct.delta):>7}" in shown[str(p.id)]
            flipped = (p.estimated > 0) != (direct.delta > 0)
            assert ("≠" in shown[str(p.id)]) == flipped
        rho = spearmanr([p.estimated for p in v.pairs], [p.actual for p in v.pairs]).statistic
        agree = sum((p.estimated > 0) == (p.actual > 0) for p in v.pairs)
        assert f"ρ {fmt.rho(rho)} signs {agree}/{len(v.pairs)}" in header_of(app)
        assert v.spearman == pytest.approx(rho)


async def test_an_expanded_level_is_verified_against_the_parent_activation(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        latent = next(n for n in app.ex.trace.nodes if app.ex.trace.has_upstream(n.id))
        await move_to(app, pilot, str(latent.id))
        await pilot.press("l")
        await settle(app, pilot)
        ref = independent.trace(PROMPT)
        ref.expand([str(latent.id)])
        direct = ref.verify(k=AUTO_VERIFY_K, parent=str(latent.id))
        got = app.ex.verify[str(latent.id)]
        assert [str(p.id) for p in got.pairs] == [str(p.id) for p in direct.pairs]
        assert [p.actual for p in got.pairs] == pytest.approx([p.actual for p in direct.pairs], rel=1e-4, abs=1e-5)
        assert fmt.verify_summary(got) in header_of(app, str(latent.id))


class GatedVerify:
    """Wraps a live trace's ``verify`` so it waits until ``release`` (or, with ``honour_cancel``, a cancel)."""

    def __init__(self, trace, honour_cancel: bool):
        self.trace, self.real, self.honour_cancel = trace, trace.verify, honour_cancel
        self.started, self.release, self.saw_cancel = threading.Event(), threading.Event(), False

    def __call__(self, k=10, parent=TARGET, should_cancel=None):
        self.started.set()
        deadline = time.monotonic() + 30
        while not self.release.is_set() and time.monotonic() < deadline:
            if should_cancel is not None and should_cancel():
                self.saw_cancel = True
                if self.honour_cancel:
                    break
            time.sleep(0.005)
        return self.real(k=k, parent=parent)  # a late, real result: the app must drop it


@pytest.mark.parametrize("how", ["escape", "new trace", "collapse"])
async def test_cancelled_auto_verify_leaves_no_numbers(bundle_dir, tiny_tracer, how):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        gate = GatedVerify(app.live_trace, honour_cancel=False)
        app.live_trace.verify = gate
        latent = next(n for n in app.ex.trace.nodes if app.ex.trace.has_upstream(n.id))
        key = str(latent.id)
        await move_to(app, pilot, key)
        await pilot.press("l")
        await wait_for(pilot, gate.started.is_set)
        assert key in app.ex.verifying and "verifying" in header_of(app, key)
        if how == "escape":
            await pilot.press("escape")
        elif how == "collapse":
            await move_to(app, pilot, key)
            await pilot.press("enter")
        else:
            app.prompt_input.value = "When Mary and John"
            app.prompt_input.focus()
            await pilot.press("enter")
        await wait_for(pilot, lambda: gate.saw_cancel)
        gate.release.set()  # the job now returns real numbers, too late
        await settle(app, pilot)
        assert key not in app.ex.verify and key not in app.ex.verifying
        assert "est Δ" not in "".join(t for _k, p, t in _headers(app) if p == key)
        if how != "new trace":
            assert TARGET in app.ex.verify  # the root's own numbers stay
            assert all("act Δ" not in t for _k, p, t in _headers(app) if p == key)
            await move_to(app, pilot, key)
            if how == "collapse":  # reopening verifies the level again
                app.live_trace.verify = gate.real
                await pilot.press("enter")
                await settle(app, pilot)
                assert key in app.ex.verify
        else:
            assert app.ex.request.prompt == "When Mary and John" and TARGET in app.ex.verify


async def test_sort_by_actual_and_back(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        estimated = [k for k, _ in rows_of(app)]
        pairs = {str(p.id): p.actual for p in app.ex.verify[TARGET].pairs}
        by_actual = sorted(pairs, key=lambda k: -abs(pairs[k])) + [k for k in estimated if k not in pairs]
        assert by_actual != estimated  # otherwise the test shows nothing
        await move_to(app, pilot, estimated[2])
        await pilot.press("f")
        await pilot.pause()
        assert [k for k, _ in rows_of(app)] == by_actual
        assert "↓act Δ" in header_of(app) and app.tree.row.key == estimated[2]  # the cursor stays on its row
        await pilot.press("f")  # f cycles: estimate → actual → position → estimate
        await pilot.pause()
        by_position = sorted(estimated, key=lambda k: int(k.rsplit("@", 1)[1]))
        assert [k for k, _ in rows_of(app)] == by_position and "↓pos" in header_of(app)
        await pilot.press("f")
        await pilot.pause()
        assert [k for k, _ in rows_of(app)] == estimated and "↓est Δ" in header_of(app)


async def test_auto_verify_off_runs_no_ablation(bundle_dir, tiny_tracer, monkeypatch):
    import tracer_tui.engine.trace as engine_trace

    calls = []
    real = engine_trace.run_interventions
    monkeypatch.setattr(engine_trace, "run_interventions", lambda *a, **k: calls.append(1) or real(*a, **k))
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.tree.focus()
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("end", "backspace", "backspace", "0", "enter")  # the box holds "10"
        await pilot.pause()
        assert app.auto_verify_k == 0
        await trace_prompt(app, pilot, PROMPT)
        latent = next(n for n in app.ex.trace.nodes if app.ex.trace.has_upstream(n.id))
        await move_to(app, pilot, str(latent.id))
        await pilot.press("l")
        await settle(app, pilot)
        assert calls == [] and app.ex.verify == {} and app.ex.verifying == frozenset()
        assert "estimates only" in header_of(app)
        await pilot.press("v")  # v still verifies on demand (the level of the highlighted row: the root's)
        await settle(app, pilot)
        assert calls and list(app.ex.verify) == [TARGET]


async def test_upstream_toggle_and_old_sessions_open_in_all(bundle_dir, tiny_tracer, independent, tui_dirs):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        assert app.live_trace.upstream == "nearest"
        await pilot.press("u")  # traces again with every upstream site pooled
        await settle(app, pilot)
        assert app.ex.request.upstream == "all" and app.live_trace.upstream == "all"
        assert [r[2] for r in node_rows(app) if r[0] == 1] == [str(n.id) for n in
                                                               independent.trace(PROMPT, upstream="all").nodes]
        await pilot.press("u")
        await settle(app, pilot)
        assert app.ex.request.upstream == "nearest"
        path = app.session_path
    saved = json.loads(path.read_text())
    assert saved["upstream"] == "nearest" and saved["auto_verify_k"] == AUTO_VERIFY_K

    # A session written before levels existed has no "upstream": it was explored with everything pooled.
    del saved["upstream"], saved["auto_verify_k"]
    old = tui_dirs / "old.json"
    old.write_text(json.dumps(saved))
    again = make_app(bundle_dir, tiny_tracer, resume=str(old))
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_loaded(again, pilot)
        await settle(again, pilot)
        assert again.ex.request.upstream == "all" and again.live_trace.upstream == "all"
        assert [r[2] for r in node_rows(again) if r[0] == 1] == [str(n.id) for n in
                                                                 independent.trace(PROMPT, upstream="all").nodes]


async def test_opening_a_latent_below_the_root_expands_its_path(bundle_dir, tiny_tracer, independent):
    """The contrast screen's 'open' for a latent that is not one of the root's rows: the app finds it with
    Trace.path_to, opens the way down and puts the cursor on it."""
    ref = independent.trace(PROMPT)
    root_latents = {f"{n.id.site}:{n.id.latent}" for n in ref.nodes}
    goal = None
    for parent in (n for n in ref.nodes if ref.has_upstream(n.id)):
        for child in ref.expand([str(parent.id)])[str(parent.id)]:
            latent = f"{child.id.site}:{child.id.latent}"
            if not child.id.is_error and latent not in root_latents:
                goal = latent
                break
        if goal:
            break
    assert goal is not None
    path = independent.trace(PROMPT).path_to(goal)
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.look_for = goal
        await trace_prompt(app, pilot, PROMPT)
        assert app.tree.row.key == path[-1] and path[-1].startswith(goal + "@"), app.status.last
        assert f"contrast latent {goal}: highlighted ({path[-1]})" in app.status.last
        assert [e.node for e in app.ex.expanded] == path[:-1]


async def test_density_in_details(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        latent = next(n for n in app.ex.trace.nodes if not n.id.is_error)
        await move_to(app, pilot, str(latent.id))
        await settle(app, pilot)
        console = Console(width=60, file=io.StringIO(), record=True)
        console.print(app.query_one("#details-body").content)
        assert "density    unknown" in console.export_text()  # the tiny bundle ships no sparsity file


@pytest.mark.skipif(not (DEMO / "model" / "config.json").is_file(), reason="the demo bundle is not built yet")
async def test_demo_eiffel_at_80x24_shows_estimated_and_actual(demo):
    start = time.perf_counter()
    direct = demo.trace(EIFFEL)
    direct.verify(k=AUTO_VERIFY_K)
    budget = time.perf_counter() - start

    app = make_app(DEMO, demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        app.prompt_input.focus()
        app.prompt_input.value = EIFFEL
        start = time.perf_counter()
        await pilot.press("enter")
        await wait_for(pilot, lambda: TARGET in app.ex.verify, timeout=60)
        took = time.perf_counter() - start
        await settle(app, pilot)
        assert app.ex.trace.target.token == " Paris"
        # Within the time the trace and its ablations take (plus the app's own drawing on a shared machine).
        assert took < 5 * budget + 3.0, (took, budget)
        v = app.ex.verify[TARGET]
        pairs = {str(p.id): p for p in v.pairs}
        shown = {key: text for kind, key, text in app.tree.shown() if kind == "node"}
        width = app.tree.scrollable_content_region.width
        for n in direct.nodes[:AUTO_VERIFY_K]:
            p = pairs[str(n.id)]
            text = shown[str(n.id)]
            assert text.startswith(f"{fmt.signed(p.estimated):>7} {fmt.signed(p.actual):>7}"), text
            assert fmt.node_name(n.id) in text  # numbers and names are never cut
            assert len(text) + 2 + app.tree.guide_depth <= width
        dense = [n for n in app.ex.trace.nodes if n.is_dense()]
        assert dense and all(" dense" in shown[str(n.id)] for n in dense)
        assert all(" dense" not in shown[str(n.id)] for n in app.ex.trace.nodes if not n.is_dense())
        site = demo.site_by_name[dense[0].id.site]
        assert dense[0].density == site.density(dense[0].id.latent) > 0.10
        app.tree.focus()
        await move_to(app, pilot, str(dense[0].id))
        await settle(app, pilot)
        console = Console(width=60, file=io.StringIO(), record=True)
        console.print(app.query_one("#details-body").content)
        assert f"fires on {format_density(dense[0].density)}" in console.export_text()
        header = next(text for kind, key, text in app.tree.shown() if kind == "level")
        assert fmt.verify_summary(v) in header
        rho = spearmanr([p.estimated for p in v.pairs], [p.actual for p in v.pairs]).statistic
        assert f"ρ {fmt.rho(rho)}" in header
        # The threshold is the user's: at 30% only the latents firing on more than 30% of tokens stay marked.
        app.set_dense_threshold(0.30)
        await pilot.pause()
        shown = {key: text for kind, key, text in app.tree.shown() if kind == "node"}
        for n in app.ex.trace.nodes:
            fires = demo.site_by_name[n.id.site].density(n.id.latent) if not n.id.is_error else None
            tagged = f"{fmt.node_name(n.id)} dense" in shown[str(n.id)]  # the tag, not a label saying "dense"
            assert tagged == (fires is not None and fires > 0.30), (n.id, fires)


def test_session_upstream_field():
    from tracer_tui.core.session import Session, SessionError

    base = {"format": "tracer-tui-session", "version": 1, "model": "m", "saes": ["s"], "prompt": "p"}
    assert Session.from_json(base).upstream == "all"  # written before levels existed
    assert Session.from_json(base).auto_verify_k == AUTO_VERIFY_K
    assert Session(model="m", saes=["s"], prompt="p").upstream == "nearest"  # new sessions
    assert Session.from_json({**base, "upstream": "nearest", "auto_verify_k": 0}).auto_verify_k == 0
    with pytest.raises(SessionError, match="upstream"):
        Session.from_json({**base, "upstream": "sideways"})
    with pytest.raises(SessionError, match="auto_verify_k"):
        Session.from_json({**base, "auto_verify_k": -1})
    assert Session.from_json(base).dense_threshold == DENSE_THRESHOLD
    assert Session.from_json({**base, "dense_threshold": 0.3}).dense_threshold == 0.3
    with pytest.raises(SessionError, match="dense_threshold"):
        Session.from_json({**base, "dense_threshold": 1.5})


async def test_dense_threshold_is_set_in_a_dialog_and_saved_in_the_session(bundle_dir, tiny_tracer, tui_dirs):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await trace_target(app, pilot)
        app.action_dense_threshold()
        await pilot.pause()
        app.screen.query_one("#ask-input").value = "abc"
        await pilot.press("enter")
        await pilot.pause()
        assert app.status.last.startswith("dense threshold must be a percentage") and app.dense_threshold == 0.10
        app.action_dense_threshold()
        await pilot.pause()
        app.screen.query_one("#ask-input").value = "25%"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.dense_threshold == 0.25 and app.tree.dense_threshold == 0.25
        app.save_now()
    from tracer_tui.core.session import LAST, load_session, resolve_resume

    assert load_session(resolve_resume(LAST, tui_dirs / "data" / "sessions")).dense_threshold == 0.25
