"""Pilot tests: the real app on the real engine with the tiny seeded bundle (tests/conftest.py)."""

from __future__ import annotations

import io
import json
import signal

import pytest
from rich.console import Console

from tracer_tui.demo import bundle_dir as demo_bundle_dir
from tracer_tui.engine.tracer import Tracer
from tracer_tui.tui import format as fmt
from tracer_tui.tui.bindings import KEYS
from tracer_tui.tui.model import Expansion
from tracer_tui.tui.screens.help import HelpScreen, help_table

from pilot import make_app, move_to, node_rows, settle, trace_prompt, wait_loaded

PROMPT = "When Mary and John"


@pytest.fixture(scope="module")
def independent(bundle_dir):
    """A second Tracer, loaded separately, to check the UI's numbers against direct engine calls."""
    return Tracer.load(model=str(bundle_dir))


async def test_types_while_loading_then_traces_top_prediction(bundle_dir, independent):
    app = make_app(bundle_dir)  # the real loader, in a worker
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.tracer is None  # painted and focused before the model is there
        assert app.focused is app.prompt_input
        await pilot.press(*"When Mary")
        await pilot.press("enter")  # waits for the model
        await wait_loaded(app, pilot)
        await settle(app, pilot)
        expected = independent.trace("When Mary")
        assert app.ex.trace.target.id == expected.target.id
        assert [r[2] for r in node_rows(app)] == [str(n.id) for n in expected.nodes]
        assert app.query_one("#tokens").tokens == independent.tokenize("When Mary")


async def test_expand_two_levels_ablate_and_clear(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        prompt = "When Mary and John went to the park, John gave the ball to"  # long enough for two levels
        await trace_prompt(app, pilot, prompt)
        ref = independent.trace(prompt)
        # Level 1: a latent at the last SAE site whose drivers include a latent at the middle site (so level 2
        # has something to expand: first-site latents have no upstream sites).
        sites = ref.tracer.sites
        for first in (n for n in ref.nodes if not n.id.is_error and n.id.site == sites[-1]):
            level1 = ref.expand([str(first.id)])[str(first.id)]
            second = next((n for n in level1 if not n.id.is_error and n.id.site != sites[0]), None)
            if second is not None:
                break
        assert second is not None
        await move_to(app, pilot, str(first.id))
        await pilot.press("l")
        await settle(app, pilot)
        assert [str(n.id) for n in app.ex.trace.children[str(first.id)]] == [str(n.id) for n in level1]
        # Level 2: step into the children, expand that middle-site latent.
        await move_to(app, pilot, str(second.id))
        await pilot.press("right")
        await settle(app, pilot)
        level2 = ref.expand([str(second.id)])[str(second.id)]
        rows = app.tree.as_data()
        assert [r[2] for r in rows if r[1] == "node" and r[0] == 3] == [str(n.id) for n in level2]
        assert [e.node for e in app.ex.expanded] == [str(first.id), str(second.id)]

        # Ablate the highlighted level-2 latent: the root moves by exactly the engine's actual Δ.
        await pilot.press("a")
        await settle(app, pilot)
        direct = ref.ablate({str(second.id): 0.0})
        assert app.ex.ablation.value == direct.value
        assert app.ex.ablation.delta == direct.delta
        assert app.ex.ablation.value - app.ex.trace.target.value == pytest.approx(direct.delta, abs=1e-12)
        root_label = app.tree.as_data()[0][4]
        assert f"Δ actual {direct.delta:+.3f}".replace("-", "−") in root_label
        # The mark sits after the numbers (so the columns stay aligned), before the struck-out name.
        assert any(f"⊘ {fmt.node_name(second.id)}" in r[4] for r in app.tree.as_data() if r[2] == str(second.id))

        # Space toggles too, on the same latent: ablating a second node combines both.
        await move_to(app, pilot, str(first.id))
        await pilot.press("space")
        await settle(app, pilot)
        both = ref.ablate({str(second.id): 0.0, str(first.id): 0.0})
        assert app.ex.ablation.value == both.value

        await pilot.press("c")
        await settle(app, pilot)
        assert app.ex.ablations == {} and app.ex.ablation is None
        assert "→" not in app.tree.as_data()[0][4]


async def test_scale_and_verify(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        ref = independent.trace(PROMPT)
        node = ref.nodes[1]
        await move_to(app, pilot, str(node.id))
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("backspace", "-", "1", "enter")
        await settle(app, pilot)
        assert app.ex.ablations == {str(node.id): -1.0}
        assert app.ex.ablation.value == ref.ablate({str(node.id): -1.0}).value
        await pilot.press("v")  # v: more rows than the automatic verify (20), loading the next page for them
        await settle(app, pilot)
        k = min(20, ref.totals["target"])
        assert k > 10  # otherwise this test shows nothing
        ref.more("target", top_k=k - 10)
        direct = ref.verify(k=k)
        got = app.ex.verify["target"]
        assert got.k == k and [r[2] for r in node_rows(app) if r[0] == 1] == [str(n.id) for n in ref.children["target"]]
        assert app.ex.expanded[-1] == Expansion("target", 10)  # the session replays the page
        assert got.spearman == pytest.approx(direct.spearman)
        assert [p.actual for p in got.pairs] == pytest.approx([p.actual for p in direct.pairs])
        pair = next(p for p in direct.pairs if str(p.id) == str(node.id))
        shown = f"{fmt.signed(pair.estimated):>7} {fmt.signed(pair.actual):>7}"  # estimated and actual Δ
        assert shown in dict((r[2], r[4]) for r in app.tree.as_data())[str(node.id)]


async def test_newer_request_wins_and_escape_cancels(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        # Hold the engine so the first trace is still queued when the second request arrives.
        with app.engine_lock:
            app.prompt_input.value = "When Mary"
            await pilot.press("enter")
            app.prompt_input.value = PROMPT
            app.prompt_input.focus()
            await pilot.press("enter")
            await pilot.pause()
        await settle(app, pilot)
        assert app.ex.request.prompt == PROMPT
        assert [r[2] for r in node_rows(app)] == [str(n.id) for n in independent.trace(PROMPT).nodes]

        # Esc while a trace waits: nothing new appears, the old tree stays.
        before = app.tree.as_data()
        with app.engine_lock:
            app.prompt_input.value = "The Eiffel"
            app.prompt_input.focus()
            await pilot.press("enter")
            await pilot.press("escape")
            await pilot.pause()
        await settle(app, pilot)
        assert app.ex.request.prompt == PROMPT
        assert app.tree.as_data()[1:] == before[1:] and app.ex.stale  # kept, greyed: the new prompt was cancelled
        assert "cancelled" in app.status.last


async def test_pick_prediction_position_metric_and_more(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        ref = independent.trace(PROMPT)
        # The second prediction as target.
        await pilot.press("p", "down", "enter")
        await settle(app, pilot)
        assert app.ex.trace.target.id == ref.top_predictions[1].id
        # Metric: m cycles logit-mean (the default) → logprob → logit, keeping the target.
        await pilot.press("m")
        await settle(app, pilot)
        assert app.ex.trace.target.metric == "logprob"
        await pilot.press("m")
        await settle(app, pilot)
        direct = independent.trace(PROMPT, target_id=ref.top_predictions[1].id, metric="logit")
        assert app.ex.trace.target.metric == "logit" and app.ex.trace.target.value == direct.target.value
        # A position inside the prompt: its target is the prompt's actual next token.
        await pilot.press("t", "left", "left", "enter")
        await settle(app, pilot)
        tokens = independent.tokenize(PROMPT)
        pos = len(tokens) - 3
        assert app.ex.trace.target.position == pos and app.ex.trace.target.token == tokens[pos + 1]
        # "… N more" loads the next page of the root's children.
        app.tree.focus()
        more = [r for r in app.tree.as_data() if r[1] == "more"]
        assert more
        await pilot.pause()
        app.tree.cursor_line = app.tree.last_line
        await pilot.pause()
        assert app.tree.row.kind == "more", (app.status.last, app.tree.row)
        await pilot.press("enter")
        await settle(app, pilot)
        wide = independent.trace(PROMPT, position=pos, metric="logit", top_k=20)
        assert [r[2] for r in node_rows(app) if r[0] == 1] == [str(n.id) for n in wide.nodes], app.status.last


async def test_errors_are_messages_and_help_lists_every_key(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        await pilot.press("g")
        await pilot.pause()
        await pilot.press(*" Mary and John went", "enter")  # several tokens: refused
        await settle(app, pilot)
        assert "not one" in app.status.last and app.is_running
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=200, file=io.StringIO(), record=True)
        console.print(help_table(app.keymap))
        text = console.export_text()
        for k in KEYS:
            assert f"tracer.{k.id}" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_session_saved_and_resumed(bundle_dir, tiny_tracer, tui_dirs):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        latent = next(r[2] for r in node_rows(app) if ":error@" not in r[2])
        await move_to(app, pilot, latent)
        await pilot.press("l")
        await settle(app, pilot)
        await pilot.press("a")  # ablate the highlighted (the expanded latent)
        await settle(app, pilot)
        rows, ablations = app.tree.as_data(), dict(app.ex.ablations)
        value = app.ex.ablation.value
    saved = json.loads((tui_dirs / "data" / "sessions" / "last").read_text().strip() and
                       open((tui_dirs / "data" / "sessions" / "last").read_text().strip()).read())
    assert saved["ablations"] == ablations and saved["expanded"][0]["node"] == latent
    assert any(n["id"] == latent for n in saved["graph"]["nodes"])

    again = make_app(bundle_dir, tiny_tracer, resume="last")
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_loaded(again, pilot)
        await settle(again, pilot)
        assert again.ex.ablations == ablations
        assert again.ex.ablation.value == value
        assert again.tree.as_data() == rows


async def test_bad_sessions_are_reported_and_kept(bundle_dir, tiny_tracer, tui_dirs):
    broken = tui_dirs / "broken.json"
    broken.write_text('{"format": "tracer-tui-session", "version": 1, "model": "x", "sa')
    app = make_app(bundle_dir, tiny_tracer, resume=str(broken))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        assert "corrupt" in app.status.last
        await trace_prompt(app, pilot, PROMPT)
        assert app.session_path != broken
    assert broken.read_text().endswith('"sa')

    other = tui_dirs / "other.json"
    data = {"format": "tracer-tui-session", "version": 1, "model": "gpt2", "saes": ["gpt2-small-res-jb/x"],
            "prompt": PROMPT}
    other.write_text(json.dumps(data))
    app = make_app(bundle_dir, tiny_tracer, resume=str(other))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        await settle(app, pilot)
        assert "gpt2" in app.status.last and app.ex.trace is None
    assert json.loads(other.read_text()) == data


async def test_hangup_saves_and_exits(bundle_dir, tiny_tracer, tui_dirs):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        await trace_prompt(app, pilot, PROMPT)
        app._on_hangup(signal.SIGHUP)
        await pilot.pause()
    assert app.return_code == 0
    assert json.loads(app.session_path.read_text())["prompt"] == PROMPT


DEMO = demo_bundle_dir()


@pytest.mark.skipif(not (DEMO / "model" / "config.json").is_file() and not (DEMO / "config.json").is_file(),
                    reason="the demo bundle is not built yet")
async def test_demo_model_eiffel_paris():
    from tracer_tui.tui.app import TracerApp
    from tracer_tui.tui.options import Options

    app = TracerApp(Options(show_timings=False))  # no --model: the bundled demo
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot, timeout=120)
        await trace_prompt(app, pilot, "The Eiffel Tower is in the city of")
        assert app.ex.trace.target.token == " Paris"
        assert node_rows(app)


async def test_escape_leaves_the_prompt_so_letter_keys_work(bundle_dir, tiny_tracer):
    from tracer_tui.tui.screens.picker import PickerScreen

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.focused is app.prompt_input
        await pilot.press("o")
        assert app.prompt_input.value == "o"  # in the prompt, letters are text
        await pilot.press("escape", "o")
        await pilot.pause()
        assert app.focused is not app.prompt_input and app.prompt_input.value == "o"
        assert isinstance(app.screen, PickerScreen)  # 'o' now opens the sample prompts


async def test_first_site_latents_are_leaves(bundle_dir, tiny_tracer, independent):
    """A latent at the first SAE site has no upstream sites: no expand arrow, and l or Enter opens nothing.
    (The root lists every site's latents only with upstream "all": u switches to it before the trace.)"""
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.tree.focus()
        await pilot.press("u")
        assert app.ex.request.upstream == "all"
        await trace_prompt(app, pilot, PROMPT)
        ref = independent.trace(PROMPT, upstream="all")
        assert app.live_trace.upstream == "all"
        sites = ref.tracer.sites
        first = next(n for n in ref.nodes if not n.id.is_error and n.id.site == sites[0])
        later = next(n for n in ref.nodes if not n.id.is_error and n.id.site != sites[0])
        rows = {node.data.key: node for node in (app.tree.get_node_at_line(i) for i in range(app.tree.last_line + 1))
                if node is not None and node.data is not None and node.data.kind == "node"}
        assert not rows[str(first.id)].allow_expand and rows[str(later.id)].allow_expand
        assert ref.expand([str(first.id)])[str(first.id)] == []  # the engine agrees: nothing upstream
        await move_to(app, pilot, str(first.id))
        await pilot.press("l", "enter")
        await settle(app, pilot)
        assert not rows[str(first.id)].children and app.ex.expanded == ()


def test_keymap_id_of_the_renamed_foil_key_still_works(tmp_path):
    """x was 'Contrast' (id tracer.contrast); it is 'Foil' (tracer.foil) now and old keymap files still apply."""
    from tracer_tui.tui.bindings import KEYS
    from tracer_tui.tui.keymap import load_keymap

    path = tmp_path / "keymap.toml"
    path.write_text('"tracer.contrast" = "X"\nablate = "space"\n', encoding="utf-8")
    assert load_keymap(path) == ({"tracer.foil": "X", "ablate": "space"}, None)
    foil = next(k for k in KEYS if k.id == "foil")
    assert (foil.keys, foil.description, foil.action) == ("x", "Foil", "set_foil")
    assert "foil token for logit-diff" in foil.help and "'Contrast'" in foil.help
