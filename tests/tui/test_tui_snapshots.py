"""Snapshots of the main screen at 80x24 and 120x40 (tiny seeded bundle, no timings, no cursor blink)."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from pilot import make_app, move_to, settle, trace_prompt, wait_loaded

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
