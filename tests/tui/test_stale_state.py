"""No stale state (issue 14, part 2): each test reproduces one bug seen in tmux, on the real app and engine."""

from __future__ import annotations

import json

import pytest

from tracer_tui.core.defaults import DEFAULT_METRIC
from tracer_tui.core.nodes import TARGET
from tracer_tui.core.prompts import SamplePrompt
from tracer_tui.engine.tracer import Tracer
from tracer_tui.tui import format as fmt
from tracer_tui.tui.screens.ask import AskScreen
from tracer_tui.tui.widgets.predictions import PredictionList

from pilot import PROMPT, SlowTracer, make_app, move_to, node_rows, settle, trace_prompt, wait_for, wait_loaded

SIZE = (80, 24)


@pytest.fixture(scope="module")
def independent(bundle_dir):
    return Tracer.load(model=str(bundle_dir))


async def test_cancelled_trace_of_a_new_prompt_greys_the_old_tree_and_disables_it(bundle_dir, tiny_tracer):
    slow = SlowTracer(tiny_tracer)
    app = make_app(bundle_dir, slow)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        slow.release.set()
        await trace_prompt(app, pilot, PROMPT)
        node = node_rows(app)[1]
        slow.release.clear()
        app.prompt_input.value = "The Eiffel Tower is in"
        app.prompt_input.focus()
        await pilot.press("enter")
        await wait_for(pilot, slow.started.is_set)
        await pilot.press("escape")
        await settle(app, pilot)
        await wait_for(pilot, lambda: slow.active == 0)
        assert app.ex.stale and app.tree.has_class("stale")
        assert "previous prompt" in app.tree.shown()[0][2]  # the root row says what the tree is
        await move_to(app, pilot, node[2])
        await pilot.press("a")  # the old tree's actions are off: nothing is ablated
        await settle(app, pilot)
        assert app.ex.ablations == {} and "previous prompt" in app.status.last
        await pilot.press("e")
        assert not isinstance(app.screen, AskScreen) and "previous prompt" in app.status.last
        slow.release.set()
        app.prompt_input.focus()
        await pilot.press("enter")  # tracing the new prompt brings a live tree back
        await settle(app, pilot)
        assert not app.ex.stale and not app.tree.has_class("stale")
        assert app.ex.request.prompt == "The Eiffel Tower is in"


async def test_opening_a_sample_resets_metric_and_foil(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        app.request_trace(app._new_request(PROMPT, metric="logit-diff", foil=" John"))
        await settle(app, pilot)
        assert app.ex.trace.target.metric == "logit-diff"
        app.load_sample(SamplePrompt(name="s", title="t", prompt="When John and Mary", target=" John"))
        await settle(app, pilot)
        assert app.ex.request.metric == DEFAULT_METRIC and app.ex.request.foil is None
        assert app.ex.trace.target.metric == DEFAULT_METRIC and app.ex.trace.target.token == " John"
        app.load_sample(SamplePrompt(name="s", title="t", prompt=PROMPT, target=" Mary", foil=" John"))
        await settle(app, pilot)  # a sample with a foil is traced as logit-diff against it
        assert app.ex.trace.target.metric == "logit-diff" and app.ex.trace.target.foil == " John"


async def test_predictions_cursor_follows_the_target(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        await pilot.press("p", "down", "down", "enter")  # prediction #3 as the target
        await settle(app, pilot)
        lst = app.query_one(PredictionList)
        await pilot.press("t", "end", "left", "left", "enter")  # a new position: its top prediction
        await settle(app, pilot)
        pos = len(independent.tokenize(PROMPT)) - 3
        ref = independent.trace(PROMPT, position=pos)
        assert app.ex.trace.target.position == pos and app.ex.trace.target.id == ref.target.id
        await pilot.press("p")
        ids = [p.id for p in app.ex.trace.predictions]  # the prompt's next token may be outside the top 10
        target_row = ids.index(app.ex.trace.target.id) if app.ex.trace.target.id in ids else 0
        assert lst.highlighted == target_row
        await pilot.press("k")
        assert lst.highlighted == max(0, target_row - 1)  # k at the top stays there: no wrap to #10
        await pilot.press("k", "k", "k")
        assert lst.highlighted == 0


async def test_paging_updates_status_and_details(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        total = app.ex.trace.totals[TARGET]
        first_page = len(app.ex.trace.nodes)
        app.tree.cursor_line = app.tree.last_line
        await pilot.pause()
        assert app.tree.row.kind == "more"
        await pilot.press("enter")
        await settle(app, pilot)
        loaded = len(app.ex.trace.nodes)
        assert loaded > first_page
        assert app.status.last.startswith(f"{loaded} of {total}")
        row = app.tree.row  # the cursor is on the first new row, and the details pane shows it
        assert row.kind == "node" and str(row.node.id) == str(app.ex.trace.nodes[first_page].id)
        assert fmt.node_name(row.node.id) in _details_text(app)


def _details_text(app) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open("/dev/null", "w"))
    console.print(app.query_one("#details-body").content)
    return console.export_text()


async def test_newlines_in_a_prompt_show_as_a_mark_and_trace_as_newlines(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    prompt = "When Mary\nand John"
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        app.load_sample(SamplePrompt(name="s", title="t", prompt=prompt, target=" Mary"))
        await settle(app, pilot)
        assert "\n" not in app.prompt_input.value and app.prompt_input.value == "When Mary⏎and John"
        assert app.ex.request.prompt == prompt  # the model still sees the newline
        assert app.ex.trace.target.value == independent.trace(prompt, target=" Mary").target.value
        await pilot.press("r")  # retrace from the prompt box keeps the newline too
        await settle(app, pilot)
        assert app.ex.request.prompt == prompt
        line = "".join(seg.text for seg in app.prompt_input.render_line(0))
        assert "When Mary⏎and John" in line  # drawn on its one line


async def test_rows_say_which_attribution_they_show(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        prompt = "When Mary and John went to the park, John gave the ball to"
        await trace_prompt(app, pilot, prompt)
        ref = independent.trace(prompt)
        first = next(n for n in ref.nodes if not n.id.is_error and ref.has_upstream(n.id))
        await move_to(app, pilot, str(first.id))
        await pilot.press("l")
        await settle(app, pilot)
        children = ref.expand([str(first.id)])[str(first.id)]
        shown = {r[1]: r[2] for r in app.tree.shown()}
        header = next(r[2] for r in app.tree.shown() if r[0] == "level" and "to " + fmt.node_name(first.id) in r[2])
        assert header
        assert "to target" in app.tree.shown()[1][2]  # the root level's header
        for child in children:
            to_target = ref.root_attribution(child.id)
            text = shown[str(child.id)]
            shown_attr = fmt.signed(-child.attribution if TARGET in app.ex.verify else child.attribution)
            assert shown_attr in text.split()[0]  # a verified level shows the estimate −A; else A itself
            if fmt.signed(to_target) != fmt.signed(child.attribution):
                assert f"tgt {fmt.signed(to_target)}" in text, text


async def test_export_keeps_foil_ablations_and_verify(bundle_dir, tiny_tracer, independent, tmp_path):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        app.request_trace(app._new_request(PROMPT, metric="logit-diff", foil=" John"))
        app.tree.focus()
        await settle(app, pilot)
        node = app.ex.trace.nodes[1]
        await move_to(app, pilot, str(node.id))
        await pilot.press("a")
        await settle(app, pilot)
        assert TARGET in app.ex.verify
        path = tmp_path / "g.json"
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = str(path)
        await pilot.press("enter")
        await settle(app, pilot)
        data = json.loads(path.read_text())
        graph = data["graph"]
        ref = independent.trace(PROMPT, metric="logit-diff", foil=" John")
        direct = ref.ablate({str(node.id): 0.0})
        assert graph["foil"] == " John" and graph["metric"] == "logit-diff"
        assert graph["ablated_value"] == direct.value and graph["ablated_delta"] == direct.delta
        assert graph["ablated_estimated_delta"] == direct.estimated_delta
        nodes = {n["id"]: n for n in data["nodes"]}
        assert nodes[str(node.id)]["ablation_scale"] == 0.0
        verify = ref.verify(k=app.ex.verify[TARGET].k)
        assert nodes[TARGET]["verify_spearman"] == pytest.approx(verify.spearman)
        edges = {(e["source"], e["target"]): e for e in data["edges"]}
        for pair in verify.pairs:
            assert edges[(str(pair.id), TARGET)]["verify_actual"] == pytest.approx(pair.actual)
        # GraphML takes only plain values: the same export as .graphml loads back.
        from tracer_tui.engine.graph import load_graph

        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = str(tmp_path / "g.graphml")
        await pilot.press("enter")
        await settle(app, pilot)
        assert load_graph(tmp_path / "g.graphml").graph["foil"] == " John"


async def test_messages_say_something_true(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.tree.focus()
        await pilot.press("u")  # every site pooled: first-site latents reach the root level
        await trace_prompt(app, pilot, PROMPT)
        app.tree.cursor_line = 0
        await pilot.press("a")
        assert "root" in app.status.last and "highlight a node first" not in app.status.last
        ref = independent.trace(PROMPT, upstream="all")
        first = next(n for n in ref.nodes if not n.id.is_error and n.id.site == ref.tracer.sites[0])
        await move_to(app, pilot, str(first.id))
        await pilot.press("l")
        assert "nothing upstream" in app.status.last and fmt.node_name(first.id) in app.status.last


async def test_prompt_option_traces_on_start(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer, prompt=PROMPT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await settle(app, pilot)
        assert app.ex.trace is not None and app.ex.request.prompt == PROMPT


async def test_long_status_messages_are_kept_in_full_in_the_history(bundle_dir, tiny_tracer):
    from tracer_tui.tui.screens.messages import MessagesScreen

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        long = "verify ρ +0.93 " + "word " * 30 + "END"
        app.status.error(long)
        await pilot.pause()
        app.tree.focus()
        await pilot.press("L")
        await pilot.pause()
        assert isinstance(app.screen, MessagesScreen)
        assert any(e.text == long for e in app.screen.entries)
        assert "END" in app.export_screenshot()
        await pilot.press("escape")
        assert not isinstance(app.screen, MessagesScreen)


async def test_latents_switched_off_by_other_ablations_are_marked(bundle_dir, tiny_tracer, independent):
    """Scale a latent after ablating a driver that switches it off: the row and the status say it is inactive,
    and a real ablation agrees that its scale then changes nothing."""
    prompt = "When Mary and John went to the park, John gave the ball to"
    ref = independent.trace(prompt)
    found = None
    for parent in (n for n in ref.nodes if not n.id.is_error and ref.has_upstream(n.id)):
        for child in (c for c in ref.expand([str(parent.id)])[str(parent.id)] if not c.id.is_error):
            for scale in (0.0, -5.0, -20.0):
                if ref.activations_under({str(child.id): scale}, [str(parent.id)])[str(parent.id)] == 0.0:
                    found = parent, child, scale
                    break
            if found:
                break
        if found:
            break
    assert found is not None, "the tiny model has no driver that switches a latent off"
    parent, child, scale = found
    # Independent of activations_under: with the driver ablated, the latent's own scale changes nothing.
    both, driver = ref.ablate({str(child.id): scale, str(parent.id): 2.0}), ref.ablate({str(child.id): scale})
    assert both.value == pytest.approx(driver.value, abs=1e-5)
    assert abs(ref.ablate({str(parent.id): 2.0}).delta) > 1e-3  # alone, the same scale does move the metric
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, prompt)
        await move_to(app, pilot, str(parent.id))
        await pilot.press("l")
        await settle(app, pilot)
        await move_to(app, pilot, str(child.id))
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = f"{scale:g}"
        await pilot.press("enter")
        await settle(app, pilot)
        await move_to(app, pilot, str(parent.id))
        await pilot.press("s")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = "2"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.ex.inactive == frozenset({str(parent.id)})
        assert "inactive" in dict((r[1], r[2]) for r in app.tree.shown())[str(parent.id)]
        assert "inactive" in app.status.last and fmt.node_name(parent.id) in app.status.last
        await move_to(app, pilot, str(child.id))
        await pilot.press("a")  # the driver's ablation removed: the latent is active again
        await settle(app, pilot)
        assert app.ex.inactive == frozenset()


async def test_bad_rule_regex_stays_in_the_dialog_with_its_error(bundle_dir, tiny_tracer):
    from textual.widgets import Input

    from tracer_tui.tui.screens.contrast import ContrastScreen

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        app.show_prompt(PROMPT)
        app.tree.focus()
        await pilot.press("n")
        await pilot.pause()
        if not isinstance(app.screen, AskScreen):  # a rule from before: edit it
            await pilot.press("r")
            await pilot.pause()
        ask = app.screen
        ask.query_one(Input).value = "(unclosed"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is ask and ask.query_one(Input).value == "(unclosed"  # kept, to fix
        error = "".join(seg.text for seg in ask.query_one("#ask-error").render_line(0))
        assert "regex" in error
        ask.query_one(Input).value = "Mary"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ContrastScreen) and app.screen.rule == "Mary"


async def test_failed_trace_of_a_new_prompt_greys_the_old_tree(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        app.request_trace(app._new_request(PROMPT, metric="logit-diff", foil="no such single token"))
        await settle(app, pilot)  # the same prompt: a bad foil leaves the tree live
        assert app.status.last.startswith("trace failed") and not app.ex.stale
        app.show_prompt("When John")
        app.request_trace(app._new_request("When John", target="no such single token"))
        await settle(app, pilot)
        assert app.status.last.startswith("trace failed") and app.ex.stale and app.tree.has_class("stale")
        await move_to(app, pilot, node_rows(app)[0][2])
        await pilot.press("a")
        assert app.ex.ablations == {} and "previous prompt" in app.status.last
