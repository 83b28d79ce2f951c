"""80×24 is the design size (issue 14, part 1): every number whole, text cut with an ellipsis, the full text one
key away. Each test drives the real app at 80×24 and reads what is drawn."""

from __future__ import annotations

import logging

from rich.console import Console
from textual.widgets import Static

from tracer_tui.core.errors import TracerError
from tracer_tui.core.nodes import TARGET
from tracer_tui.tui import format as fmt
from tracer_tui.tui.app import TracerApp
from tracer_tui.tui.options import Options
from tracer_tui.tui.screens.help import HelpScreen, help_table

from pilot import PROMPT, make_app, move_to, node_rows, settle, trace_prompt, wait_loaded

SIZE = (80, 24)
LONG_PROMPT = "When Mary and John went to the park, John gave the ball to"


def drawn(widget) -> str:
    """The widget's lines as drawn on screen."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


async def test_root_row_keeps_every_number_after_an_ablation(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, LONG_PROMPT)
        await move_to(app, pilot, node_rows(app)[1][2])
        await pilot.press("a")
        await settle(app, pilot)
        ab, t = app.ex.ablation, app.ex.trace.target
        root = app.tree.shown()[0][2]
        for number in (fmt.num(t.value), fmt.num(ab.value), fmt.signed(ab.delta), fmt.signed(ab.estimated_delta)):
            assert number in root, (number, root)
        assert "…" not in root


async def test_status_shows_numbers_first_and_keeps_the_full_text(bundle_dir, tiny_tracer, tmp_path):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, LONG_PROMPT)
        await pilot.press("v")
        await settle(app, pilot)
        line = drawn(app.query_one("#message"))
        assert fmt.verify_summary(app.ex.verify[TARGET]) in line  # ρ and the sign count, whole
        assert not app.tree.show_horizontal_scrollbar  # rows are fitted to the width: no line lost to a scrollbar
        deep = tmp_path / ("a-very-long-folder-name-" * 3) / "graph.json"
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = str(deep)
        await pilot.press("enter")
        await settle(app, pilot)
        assert deep.exists()
        line = drawn(app.query_one("#message"))
        assert line.strip().startswith("exported graph.json to") and line.rstrip().endswith("…")
        assert drawn(app.query_one("#hints")).strip() == "L: in full"
        assert app.status.history[-1].text == f"exported graph.json to {deep.parent}"


async def test_failed_load_shows_the_id_and_the_reason(bundle_dir, caplog):
    reason = ("could not load SAE gpt2-small-res-jb/blocks.3.hook_resid_pre: it is not in the Hugging Face cache "
              "and the network is off (HF_HUB_OFFLINE=1); run once online or point --sae at a local folder")

    def factory(_progress):
        raise TracerError(reason)

    app = TracerApp(Options(model=str(bundle_dir), show_timings=False), tracer_factory=factory)
    with caplog.at_level(logging.INFO, logger="tracer_tui"):
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.pause()
            line = drawn(app.query_one("#message"))
            assert "load failed: could not load SAE gpt2-small-res-jb/blocks.3" in line
            details = "".join(drawn(app.query_one("#details-body")).split())
            assert "".join(reason.split()) in details  # wrapped, but all of it
            assert app.status.history[-1].text == f"load failed: {reason}"
    assert any(reason in r.getMessage() for r in caplog.records)  # and in the debug log


def test_header_says_how_many_saes_it_leaves_out():
    from tracer_tui.tui.widgets.header import info_line

    info = {"model": {"name": "gpt2-small", "device": "cpu", "dtype": "float32", "layers": 12},
            "saes": [{"site": f"blocks.{i}.hook_resid_pre"} for i in range(13)]}
    line = info_line(info, 78)
    assert line.cell_len <= 78 and "of 13 SAEs: L0.pre" in line.plain and line.plain.endswith(" …")
    shown = int(line.plain.split(" of 13 SAEs")[0].rsplit(" ", 1)[1])
    assert line.plain.count(".pre") == shown
    assert "13 SAEs" not in info_line(info, 400).plain and "L12.pre" in info_line(info, 400).plain


async def test_help_screen_is_readable_at_80x24(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        app.tree.focus()
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        width = app.screen.query_one("#help-box").content_region.width
        console = Console(width=width, record=True, file=open("/dev/null", "w"))
        console.print(help_table({}, ids=False))
        text = console.export_text()
        assert "message history: every status message in full" in text  # L is listed, its line whole
        assert "show every key with what it does" in text
        assert "details pane" in text and "PgUp" in text  # how to scroll the details pane


async def test_labels_keep_room_with_the_details_pane_open():
    app = TracerApp(Options(show_timings=False, page_rows=10))  # the demo model: its latents have labels
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot, timeout=120)
        await trace_prompt(app, pilot, "When Mary and John went to the store, John gave a drink to")
        assert app.query_one("#side").display
        labelled = [n for n in app.ex.trace.nodes if n.label and not n.id.is_error and not n.is_dense()]
        assert labelled
        shown = dict((r[1], r[2]) for r in app.tree.shown())
        for n in labelled:
            text = shown[str(n.id)]
            shown_attr = fmt.signed(-n.attribution if TARGET in app.ex.verify else n.attribution)  # verified: est Δ
            assert shown_attr in text and fmt.pct(abs(n.attribution) / app.ex.trace.abs_totals[TARGET]) in text
            assert n.label[:10].rstrip() in text or n.label in text, text  # a readable start of the label
            assert text.endswith("…") or text.endswith(n.label)


async def test_levels_fill_the_tree_height(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer, page_rows=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, LONG_PROMPT)
        height = app.tree.size.height
        assert len(app.ex.trace.nodes) == min(height - 3, app.ex.trace.totals[TARGET]) > 10
        assert app.tree.last_line == height - 1  # root, header, the rows and '… N more': the tree is full


async def test_focus_says_where_letters_go(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        label = app.query_one("#prompt-label", Static)
        app.prompt_input.focus()
        await pilot.pause()
        assert "type" in drawn(label)
        await pilot.press("escape")  # leaves the prompt: letters are keys again
        await pilot.pause()
        assert app.focused is app.tree and "prompt" in drawn(label)


async def _contrast_header(bundle_dir, tracer, size, prompt: str, rule: str) -> str:
    """The contrast screen's header as drawn, for ``prompt`` and ``rule`` on a terminal of ``size``."""
    from tracer_tui.tui.contrast_settings import ContrastSettings

    app = make_app(bundle_dir, tracer)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(app, pilot)
        app.show_prompt(prompt)
        app.contrast_settings = ContrastSettings(rule=rule)
        app.tree.focus()
        await pilot.press("n")
        await pilot.pause()
        return drawn(app.screen.query_one("#contrast-header"))


async def test_contrast_header_uses_the_width(bundle_dir, tiny_tracer):
    rule = r"(?i)\b(who cares|nobody cares|ugh|reckless\w*|ignore\w*|idiots?)\b"
    head = await _contrast_header(bundle_dir, tiny_tracer, (200, 50), LONG_PROMPT, rule)
    assert LONG_PROMPT in head and rule in head
    head = await _contrast_header(bundle_dir, tiny_tracer, SIZE, PROMPT, rule)
    assert PROMPT in head and "mode zero" in head and "…" in head  # the rule cut, the mode whole


async def test_rows_of_a_level_take_one_form_so_columns_line_up():
    """At 80×24 a narrow row drops words before numbers; the rows of one level all drop the same ones, so a
    share column never comes and goes from row to row (dense labels and 'tgt' numbers made rows differ)."""
    import re

    app = TracerApp(Options(show_timings=False, page_rows=10))  # the demo: long labels, dense latents
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot, timeout=120)
        await trace_prompt(app, pilot, "The Eiffel Tower is in the city of")
        dense = next(n for n in app.ex.trace.nodes if n.is_dense() and app.ex.trace.has_upstream(n.id))
        await move_to(app, pilot, str(dense.id))
        await pilot.press("l")
        await settle(app, pilot)
        parents = [n.data.parent for line in range(app.tree.last_line + 1)
                   if (n := app.tree.get_node_at_line(line)) is not None and n.data is not None
                   and n.data.kind == "node"]
        texts = [text for kind, _key, text in app.tree.shown() if kind == "node"]
        assert len(parents) == len(texts) and str(dense.id) in parents
        for level in set(parents):
            share = {bool(re.search(r"\s\d+(\.\d+)?%\s", t)) for p, t in zip(parents, texts) if p == level}
            assert len(share) == 1, [t for p, t in zip(parents, texts) if p == level]
