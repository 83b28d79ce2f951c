"""Seeded key fuzz: random keys (about 1,000 by default, ``TRACER_TUI_KEY_FUZZ=4`` for 4,000) during the model
load, during a trace and on every screen (main panes, help, pickers, every ask dialog, the ablation list, the
contrast screen and its dialogs, the command palette). After each batch the app must still be running and the
session file must load. Fixed seeds, so a failure replays the same keys (the workers' timing still varies)."""

from __future__ import annotations

import os
import random
import threading

import pytest

from textual.screen import ModalScreen

from tracer_tui.core.session import load_session
from tracer_tui.tui.app import TracerApp
from tracer_tui.tui.contrast_settings import ContrastSettings
from tracer_tui.tui.model import TraceRequest
from tracer_tui.tui.options import Options
from tracer_tui.tui.screens.ask import AskScreen
from tracer_tui.tui.screens.contrast import ContrastScreen
from tracer_tui.tui.screens.help import HelpScreen
from tracer_tui.tui.screens.picker import PickerScreen
from tracer_tui.tui.widgets.latent_tree import LatentTree
from tracer_tui.tui.widgets.predictions import PredictionList
from tracer_tui.tui.widgets.token_strip import TokenStrip

from pilot import PROMPT, SlowTracer, make_app, move_to, node_rows, settle, wait_for

pytestmark = pytest.mark.slow  # minutes of keys: CI runs it once, on the newest Textual the pin allows

SCALE = float(os.environ.get("TRACER_TUI_KEY_FUZZ", "2"))  # 2: about 2,000 keys in all
# Every key a binding uses, letters and digits typed into the boxes, moves and Tab. Never q, ctrl+q or ctrl+c
# (they quit), ctrl+z (suspends), nor backspace/delete: an export box edited down to "/x" would write there.
KEYS = ([c for c in "abcdefghijklmnoprstuvwxyz0123456789"] +
        ["enter"] * 4 + ["escape"] * 3 + ["space", "tab", "up", "down", "left", "right", "home", "end",
                                          "question_mark", "slash", "minus", "full_stop", "f1"])


SMALL_CONTRAST = ContrastSettings(samples=6, max_tokens=3, steer_samples=3, random=1)  # s, g, - stay quick


def n_keys(count: int) -> int:
    return max(1, int(count * SCALE))


async def mash(app, pilot, rng: random.Random, count: int) -> None:
    """``count`` random keys in small bursts (a burst is sent without waiting, like key repeat)."""
    left = count
    while left > 0:
        burst = [rng.choice(KEYS) for _ in range(min(left, rng.randint(1, 12)))]
        left -= len(burst)
        await pilot.press(*burst)
        assert app.is_running, f"the app died after {burst}"


async def check_alive(app, pilot) -> None:
    await settle(app, pilot)
    assert app.is_running and app.return_code is None
    if app.session_path is not None and app.session_path.exists():
        load_session(app.session_path)  # raises SessionError on an invalid file


async def back_to_main(app, pilot) -> None:
    for _ in range(10):
        if not isinstance(app.screen, (ModalScreen, ContrastScreen)) and app.screen is app.screen_stack[0]:
            return
        await pilot.press("escape")
        await settle(app, pilot)
    raise AssertionError(f"stuck on {app.screen!r}")


def first_latent(app) -> str | None:
    return next((r[2] for r in node_rows(app) if ":error@" not in r[2]), None)


async def ready_on_a_latent(app, pilot) -> None:
    """A trace of PROMPT on screen, the tree focused on its first latent, which is ablated (b has a list)."""
    await back_to_main(app, pilot)
    latent = first_latent(app)
    if latent is None or app.ex.request.prompt != PROMPT or app.ex.stale:  # the keys changed the trace: again
        app.request_trace(TraceRequest(PROMPT))
        await settle(app, pilot)
        assert app.status.last.startswith("traced "), app.status.last
        latent = first_latent(app)
    assert latent is not None
    app.tree.focus()
    await move_to(app, pilot, latent)
    if latent not in app.ex.ablations:
        await pilot.press("a")
        await settle(app, pilot)
    assert app.ex.ablations


async def test_keys_during_load_and_during_a_trace(bundle_dir, tiny_tracer, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a relative export path typed by the fuzz lands here
    rng = random.Random(15)
    loaded = threading.Event()
    slow = SlowTracer(tiny_tracer)

    def factory(progress):
        progress("loading (held by the test)", 0.5)
        loaded.wait(60)
        return slow

    app = TracerApp(Options(model=str(bundle_dir), show_timings=False), tracer_factory=factory)
    app.contrast_settings = SMALL_CONTRAST
    async with app.run_test(size=(80, 24)) as pilot:
        await mash(app, pilot, rng, n_keys(120))  # the model is still loading
        assert app.tracer is None and app.is_running
        loaded.set()
        await wait_for(pilot, lambda: app.tracer is not None, 60)
        await check_alive(app, pilot)
        for _ in range(2):  # a trace held midway in its thread, keys meanwhile, then let go
            await back_to_main(app, pilot)
            slow.release.clear()
            slow.started.clear()
            app.prompt_input.focus()
            app.prompt_input.value = PROMPT
            await pilot.press("enter")
            await wait_for(pilot, slow.started.is_set)
            await mash(app, pilot, rng, n_keys(60))
            slow.release.set()
            await check_alive(app, pilot)
        await mash(app, pilot, rng, n_keys(80))  # traces now land as the keys come
        await check_alive(app, pilot)


RULE_ASKED = "<Esc if the rule dialog is up>"
# name -> (keys that open it from the tree on an ablated latent, the screen it must be or the widget focused)
SCREENS = {
    "help": (["question_mark"], HelpScreen),
    "sample picker": (["o"], PickerScreen),
    "target dialog (g)": (["g"], AskScreen),
    "foil dialog (x)": (["x"], AskScreen),
    "scale dialog (s)": (["s"], AskScreen),
    "auto-verify dialog (w)": (["w"], AskScreen),
    "export dialog (e)": (["e"], AskScreen),
    "ablation list (b)": (["b"], PickerScreen),
    "contrast screen, no rule yet (n)": (["n"], AskScreen),  # it asks for the rule first
    "contrast screen (n)": (["n", RULE_ASKED], ContrastScreen),
    "contrast rule dialog": (["n", RULE_ASKED, "r"], AskScreen),
    "contrast strength dialog": (["n", RULE_ASKED, "a"], AskScreen),
    "contrast sizes dialog": (["n", RULE_ASKED, "c"], AskScreen),
    "contrast add dialog": (["n", RULE_ASKED, "p"], AskScreen),
    "contrast help": (["n", RULE_ASKED, "question_mark"], HelpScreen),
    "command palette": (["ctrl+p"], ModalScreen),
    "tree": ([], LatentTree),
    "token strip": (["t"], TokenStrip),
    "predictions": (["p"], PredictionList),
}


async def test_keys_on_every_screen(bundle_dir, tiny_tracer, monkeypatch, tmp_path):
    """One app through every screen in turn: open it from a fresh trace with an ablated latent highlighted (and
    check it is that screen), then mash keys there (they may close it and go on elsewhere)."""
    monkeypatch.chdir(tmp_path)
    rng = random.Random(15)
    app = make_app(bundle_dir, tiny_tracer)
    app.contrast_settings = SMALL_CONTRAST
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        for name, (opener, kind) in SCREENS.items():
            app.contrast_settings = SMALL_CONTRAST  # no rule: the contrast screen opens with its rule dialog
            await ready_on_a_latent(app, pilot)
            for key in opener:
                if key == RULE_ASKED:  # answered by Esc, leaving the contrast screen itself
                    key = "escape" if isinstance(app.screen, AskScreen) else None
                if key is not None:
                    await pilot.press(key)
                    await settle(app, pilot)
            shown = app.focused if kind in (LatentTree, TokenStrip, PredictionList) else app.screen
            assert isinstance(shown, kind), f"{name}: {opener} gave {shown!r}"
            await mash(app, pilot, rng, n_keys(40))
            await check_alive(app, pilot)
