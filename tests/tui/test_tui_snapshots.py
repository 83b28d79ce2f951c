"""Snapshots of the main screen at 80x24 and 120x40 (tiny seeded bundle, no timings, no cursor blink)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from pilot import make_app, move_to, settle, trace_prompt, wait_loaded
from tracer_tui.tui.app import TracerApp
from tracer_tui.tui.options import Options

PROMPT = "When Mary and John"

# The SVGs are drawn by Textual 8.2.8; other 8.x releases (the app supports >=8.0,<9) may draw a cell differently.
pytestmark = pytest.mark.skipif(version("textual") != "8.2.8",
                                reason=f"snapshots are recorded with Textual 8.2.8, not {version('textual')}")


async def _explore(pilot) -> None:
    app = pilot.app
    app.prompt_input.cursor_blink = False
    await wait_loaded(app, pilot)
    await trace_prompt(app, pilot, PROMPT)
    latent = next(n for n in app.ex.trace.nodes if not n.id.is_error)
    await move_to(app, pilot, str(latent.id))
    await pilot.press("l")
    await settle(app, pilot)
    await pilot.press("a")
    await settle(app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_main_screen(snap_compare, bundle_dir, tiny_tracer, size):
    app = make_app(bundle_dir, tiny_tracer)
    assert snap_compare(app, terminal_size=size, run_before=_explore)


# ---- issue 14: the fullest states at 80x24, the design size -------------------------------------------------------
LONG = "When Mary and John went to the park, John gave the ball to"


async def _traced(pilot, prompt: str = LONG) -> None:
    app = pilot.app
    app.prompt_input.cursor_blink = False
    await wait_loaded(app, pilot)
    await trace_prompt(app, pilot, prompt)


async def _ablate_two(pilot) -> None:
    """Two ablations on a verified level: the root shows the clean and ablated values and both Δs."""
    await _traced(pilot)
    for node in [n for n in pilot.app.ex.trace.nodes if not n.id.is_error][:2]:
        await move_to(pilot.app, pilot, str(node.id))
        await pilot.press("a")
        await settle(pilot.app, pilot)


async def _verify(pilot) -> None:
    await _traced(pilot)
    await pilot.press("v")
    await settle(pilot.app, pilot)


async def _long_prompt(pilot) -> None:
    """A prompt longer than the screen, with a newline: one line, ⏎ for the newline, the strip on the cursor."""
    await _traced(pilot, "When Mary and John went to the park⏎and then to the store, John gave the ball to")


async def _details(pilot) -> None:
    """The details pane of a child row (attributions to its parent and to the target), Tab-focused."""
    app = pilot.app
    await _traced(pilot)
    latent = next(n for n in app.ex.trace.nodes if not n.id.is_error and app.ex.trace.has_upstream(n.id))
    await move_to(app, pilot, str(latent.id))
    await pilot.press("l")
    await settle(app, pilot)
    await pilot.press("l", "j")
    await settle(app, pilot)
    app.query_one("#details").focus()
    await pilot.pause()


async def _help(pilot) -> None:
    app = pilot.app
    await wait_loaded(app, pilot)
    app.tree.focus()
    await pilot.press("question_mark")
    await pilot.pause()


async def _contrast(pilot) -> None:
    from tracer_tui.tui.contrast_settings import ContrastSettings

    app = pilot.app
    await wait_loaded(app, pilot)
    app.contrast_settings = ContrastSettings(rule=r"(?i)\b(who cares|nobody cares|ugh|reckless\w*|ignore\w*|idiots?)\b")
    app.show_prompt(LONG)
    app.tree.focus()
    await pilot.press("n")
    await pilot.pause()


@pytest.mark.parametrize("state", [_ablate_two, _verify, _long_prompt, _details, _help, _contrast],
                         ids=lambda f: f.__name__.strip("_"))
def test_fullest_states_at_80x24(snap_compare, bundle_dir, tiny_tracer, state):
    app = make_app(bundle_dir, tiny_tracer, page_rows=None)  # levels fill the tree, as in use
    assert snap_compare(app, terminal_size=(80, 24), run_before=state)


def test_failed_load_with_a_long_reason_at_80x24(snap_compare, bundle_dir):
    from tracer_tui.core.errors import TracerError

    def factory(_progress):
        raise TracerError("could not load SAE gpt2-small-res-jb/blocks.3.hook_resid_pre: it is not in the Hugging "
                          "Face cache and the network is off (HF_HUB_OFFLINE=1); run once online or point --sae at a "
                          "local folder")

    app = TracerApp(Options(model=str(bundle_dir), show_timings=False, page_rows=10), tracer_factory=factory)

    async def settled(pilot):
        await settle(pilot.app, pilot)
        pilot.app.prompt_input.cursor_blink = False

    assert snap_compare(app, terminal_size=(80, 24), run_before=settled)


def test_long_labels_on_the_demo_at_80x24(snap_compare):
    """The demo model's labelled latents, with the details pane open: labels keep their first words."""
    app = TracerApp(Options(show_timings=False, page_rows=10))

    async def run(pilot):
        pilot.app.prompt_input.cursor_blink = False
        await wait_loaded(pilot.app, pilot, timeout=120)
        await trace_prompt(pilot.app, pilot, "When Mary and John went to the store, John gave a drink to")
        await pilot.press("j", "j")
        await settle(pilot.app, pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run)
