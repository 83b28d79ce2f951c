"""The research tools in the tree, driven by keys on the real app: the `/` filter, hidden dense latents, copying a
node id, pins and notes (saved in the session), group ablations (A, E) and mean ablation (M) checked against real
ablations by a separately loaded Tracer, nodes reached by several paths (⋔, O), and settings remembered between
runs. Tiny seeded bundle; the demo bundle where density and shared upstream nodes are needed.
"""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from tracer_tui.core import session as sessions
from tracer_tui.core.nodes import TARGET, NodeId
from tracer_tui.demo import bundle_dir as demo_bundle_dir
from tracer_tui.engine.tracer import Tracer
from tracer_tui.tui import format as fmt
from tracer_tui.tui.bindings import KEYS, display_keys
from tracer_tui.tui.contrast_settings import ContrastSettings
from tracer_tui.tui.model import TraceRequest
from tracer_tui.tui.screens.contrast import ContrastScreen
from tracer_tui.tui.screens.help import help_table
from tracer_tui.tui.settings import Settings, load_settings, settings_file

from pilot import make_app, move_to, settle, trace_prompt, wait_loaded

PROMPT = "When Mary and John went to the park, John gave the ball to"
EIFFEL = "The Eiffel Tower is in the city of"
DEMO = demo_bundle_dir()
NEW_KEYS = ("filter", "hide-dense", "copy-id", "pin", "next-pin", "note", "next-occurrence", "ablate-level",
            "ablate-everywhere", "mean-mode", "sort-level")


@pytest.fixture(scope="module")
def independent(bundle_dir):
    """A second Tracer, loaded separately, to check the app's numbers against direct engine calls."""
    return Tracer.load(model=str(bundle_dir))


async def traced(app, pilot, prompt: str = PROMPT) -> None:
    """Wait for the model, then trace ``prompt`` from the prompt box (and its auto-verify)."""
    await wait_loaded(app, pilot)
    await trace_prompt(app, pilot, prompt)


async def answer(app, pilot, text: str) -> None:
    """Type ``text`` into the open dialog and press Enter."""
    await pilot.pause()
    app.screen.query_one("#ask-input").value = text
    await pilot.press("enter")
    await settle(app, pilot)


def shown_nodes(app) -> list[str]:
    return [key for kind, key, _text in app.tree.shown() if kind == "node"]


def row_text(app, key: str) -> str:
    return next(text for kind, k, text in app.tree.shown() if kind == "node" and k == key)


def details_text(app) -> str:
    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(app.query_one("#details-body").content)
    return console.export_text()


# ---- filter ----------------------------------------------------------------------------------------------------
async def test_slash_filters_by_layer_latent_and_text_and_esc_clears(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.request_trace(TraceRequest(PROMPT, upstream="all"))  # the tiny model's root level: two layers
        app.prompt_input.value = PROMPT
        await settle(app, pilot)
        nodes = app.ex.trace.nodes
        everything = shown_nodes(app)
        latent = next(n for n in nodes if not n.id.is_error and n.layer == 1).id.latent
        cases = {"L0": lambda n: n.layer == 0, f"#{latent}": lambda n: n.id.latent == latent,
                 "error": lambda n: n.id.is_error, "RESID_PRE": lambda n: "resid_pre" in n.id.site,
                 "resid_pre #1": lambda n: "resid_pre" in n.id.site and n.id.latent == 1}
        for query, keep in cases.items():
            want = [str(n.id) for n in nodes if keep(n)]
            assert 0 < len(want) < len(nodes), query  # otherwise the case shows nothing
            app.tree.focus()
            await pilot.press("slash")
            await answer(app, pilot, query)
            assert app.prompt_input.value == PROMPT and not app.prompt_input.has_focus  # / is not the prompt key
            assert shown_nodes(app) == want, query
            top = next(text for kind, _k, text in app.tree.shown() if kind == "filter")
            assert f"filter: {query} · {len(want)} of {len(nodes)} rows (Esc clears)" in top
            assert app.status.last.startswith(f"filter: {query} · {len(want)} of {len(nodes)} rows")
            await pilot.press("escape")
            await settle(app, pilot)
            assert shown_nodes(app) == everything and not any(k == "filter" for k, _x, _t in app.tree.shown())
        await pilot.press("i")
        assert app.prompt_input.has_focus  # i still edits the prompt


async def test_filter_by_position_keeps_the_way_to_a_match_in_a_deeper_level(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot, PROMPT)
        end = app.ex.trace.target.position
        assert all(n.id.position == end for n in app.ex.trace.nodes)  # the tiny model's root level
        parent = next(str(n.id) for n in app.ex.trace.nodes if app.ex.trace.has_upstream(n.id))
        await move_to(app, pilot, parent)
        await pilot.press("l")
        await settle(app, pilot)
        children = app.ex.trace.children[parent]
        pos = next(n.id.position for n in children if n.id.position != end)
        await pilot.press("slash")
        await answer(app, pilot, f"@{pos}")
        want = [str(n.id) for n in children if n.id.position == pos]
        assert shown_nodes(app) == [parent, *want]  # the matches, and the row they hang under
        hidden = next(text for kind, k, text in app.tree.shown() if kind == "filter" and "hidden" in text)
        assert hidden.startswith(f"{len(children) - len(want)} row(s) hidden here (Esc clears)")
        total = len(app.ex.trace.nodes) + len(children)
        assert f"filter: @{pos} · {len(want) + 1} of {total} rows" in app.status.last  # rows shown, the way too


# ---- hidden dense latents, settings --------------------------------------------------------------------------------
@pytest.mark.skipif(not (DEMO / "model" / "config.json").is_file(), reason="the demo bundle is not built yet")
async def test_D_hides_dense_latents_and_is_remembered(demo):
    app = make_app(DEMO, demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot, EIFFEL)
        nodes = app.ex.trace.nodes
        dense = [str(n.id) for n in nodes if n.is_dense(app.dense_threshold)]
        assert dense and len(dense) < len(nodes)
        app.tree.focus()
        await pilot.press("D")
        await settle(app, pilot)
        assert shown_nodes(app) == [str(n.id) for n in nodes if str(n.id) not in dense]
        top = next(text for kind, _k, text in app.tree.shown() if kind == "filter")
        assert f"dense hidden · {len(nodes) - len(dense)} of {len(nodes)} rows" in top
        assert load_settings()[0].hide_dense is True
    again = make_app(DEMO, demo)
    async with again.run_test(size=(120, 40)) as pilot:
        await traced(again, pilot, EIFFEL)
        assert not set(dense) & set(shown_nodes(again))  # still hidden in the next run
        again.tree.focus()
        await pilot.press("D")
        await settle(again, pilot)
        assert set(dense) <= set(shown_nodes(again))


async def test_settings_are_remembered_between_runs(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        other = next(t for t in app.theme_names if t != app.theme)
        app.theme = other
        app.tree.focus()
        await pilot.press("w")
        await answer(app, pilot, "3")
        await pilot.press("u")  # no trace yet: only the mode changes
        await pilot.press("M")
        await trace_prompt(app, pilot, PROMPT)
        app.tree.focus()
        await pilot.press("f", "f")  # estimate → actual → position
        await settle(app, pilot)
        upstream = app.ex.request.upstream
    saved = json.loads(settings_file().read_text())
    assert saved == {"theme": other, "auto_verify_k": 3, "dense_threshold": 0.1, "upstream": upstream,
                     "hide_dense": False, "sort": "position", "mean_mode": True}
    again = make_app(bundle_dir, tiny_tracer)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_loaded(again, pilot)
        assert (again.theme, again.auto_verify_k, again.mean_mode) == (other, 3, True)
        await trace_prompt(again, pilot, PROMPT)
        assert again.ex.request.upstream == upstream
        positions = [NodeId.parse(k).position for k in shown_nodes(again)]
        assert positions == sorted(positions) and "↓pos" in again.tree.level_text(TARGET).plain


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not valid JSON"),
    ('{"auto_verify_k": "ten"}', "field 'auto_verify_k' must be an integer"),
    ('{"sort": "random"}', "field 'sort' must be one of estimate, actual, position"),
])
async def test_a_damaged_settings_file_is_one_line_and_the_defaults(bundle_dir, tiny_tracer, content, expected):
    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_text(content)
    settings, warning = load_settings()
    assert settings == Settings() and expected in warning and "\n" not in warning
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        assert expected in app.status.last and app.is_running
        await trace_prompt(app, pilot, PROMPT)
        assert app.status.last.startswith("traced ")


# ---- copy, pins, notes ------------------------------------------------------------------------------------------
async def test_y_copies_the_node_id_through_osc52(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot, PROMPT)
        key = str(app.ex.trace.nodes[1].id)
        await move_to(app, pilot, key)
        await pilot.press("y")
        assert app.clipboard == key  # App.copy_to_clipboard: kept here, and sent to the terminal as OSC 52
        assert app.status.last == f"copied {key} (through the terminal's OSC 52 clipboard)"
        app.tree.cursor_line = 0  # the root row is not a node
        await pilot.press("y")
        assert app.clipboard == key and "highlight a node" in app.status.last


async def test_pins_and_notes_are_shown_saved_and_resumed(bundle_dir, tiny_tracer, tui_dirs):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot, PROMPT)
        a, b, c = (str(n.id) for n in app.ex.trace.nodes[:3])
        for key in (a, c):
            await move_to(app, pilot, key)
            await pilot.press("P")
        assert app.ex.pins == (a, c)
        for key in (a, b, c):  # the mark follows the node's name; the numbers stay in their columns
            name = fmt.node_name(NodeId.parse(key))
            assert (f"{name} ⚑ " in row_text(app, key)) == (key != b)
            assert row_text(app, key).index(name) == row_text(app, b).index(fmt.node_name(NodeId.parse(b)))
        await move_to(app, pilot, b)
        await pilot.press("J")
        await settle(app, pilot)
        assert app.tree.row.key == c  # the next pin after the cursor, in tree order
        await pilot.press("J")
        await settle(app, pilot)
        assert app.tree.row.key == a  # wraps
        await pilot.press("N")
        await answer(app, pilot, "fires on names")
        assert app.ex.notes == {a: "fires on names"}
        assert "note        fires on names" in details_text(app)
        await pilot.press("f")  # the level by actual Δ
        await pilot.press("slash")
        await answer(app, pilot, a)
        assert shown_nodes(app) == [a]
        app.save_now()
    saved = sessions.load_session(sessions.resolve_resume("last"))
    assert saved.pins == [a, c] and saved.notes == {a: "fires on names"}
    assert saved.filter == a and saved.sort == {TARGET: "actual"}

    again = make_app(bundle_dir, tiny_tracer, resume="last")
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_loaded(again, pilot)
        await settle(again, pilot)
        assert again.ex.pins == (a, c) and again.ex.notes == {a: "fires on names"}
        assert again.ex.filter == a and again.ex.sort == {TARGET: "actual"} and shown_nodes(again) == [a]
        assert " ⚑ " in row_text(again, a)
        await move_to(again, pilot, a)
        await pilot.press("P")  # unpin
        await settle(again, pilot)
        assert again.ex.pins == (c,) and "⚑" not in row_text(again, a)


def test_old_sessions_without_pins_or_notes_load_and_bad_ones_are_named():
    data = sessions.Session(model="m", saes=["s"], prompt="p").to_json()
    for name in ("pins", "notes", "mean_ablated", "filter", "sort"):
        del data[name]
    old = sessions.Session.from_json(data)
    assert (old.pins, old.notes, old.mean_ablated, old.filter, old.sort) == ([], {}, [], "", {})
    with pytest.raises(sessions.SessionError, match="field 'notes' must map node ids to strings"):
        sessions.Session.from_json({**data, "notes": {"x:1@2": 3}})
    with pytest.raises(sessions.SessionError, match="field 'pins' must hold only strings"):
        sessions.Session.from_json({**data, "pins": [1]})
    with pytest.raises(sessions.SessionError, match="field 'sort' must map levels to one of estimate, actual"):
        sessions.Session.from_json({**data, "sort": {"target": "random"}})


# ---- group and mean ablation --------------------------------------------------------------------------------------
async def test_A_ablates_the_levels_verified_rows_together(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.auto_verify_k = 4
        await trace_prompt(app, pilot, PROMPT)  # auto-verify: the level's top 4 rows are verified
        verified = [str(p.id) for p in app.ex.verify[TARGET].pairs]
        assert verified == [str(n.id) for n in app.ex.trace.nodes[:4]]
        await move_to(app, pilot, str(app.ex.trace.nodes[6].id))
        await pilot.press("A")
        await settle(app, pilot)
        assert " · the top 4 of the target (the verified rows)" in app.status.last
        assert dict(app.ex.ablations) == {k: 0.0 for k in verified}
        direct = independent.trace(PROMPT).ablate({k: 0.0 for k in verified})
        r = app.ex.ablation
        assert r.delta == pytest.approx(direct.delta, rel=1e-4, abs=1e-5)
        assert r.estimated_delta == pytest.approx(direct.estimated_delta, rel=1e-6, abs=1e-9)
        assert f"Δ actual {r.delta:+.3f} est {r.estimated_delta:+.3f}" in app.tree.root_text().plain
        await pilot.press("A")  # again: undo
        await settle(app, pilot)
        assert not app.ex.ablations and app.ex.ablation is None


async def test_E_ablates_a_latent_at_every_position_where_it_is_active(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot, PROMPT)
        ref = independent.trace(PROMPT)
        end = ref.target.position

        def active(n):
            return [p for p, a in enumerate(ref.activation_profile(n.id)) if a > 0 and p <= end]

        node = next(n for n in app.ex.trace.nodes if not n.id.is_error and len(active(n)) > 1)
        want = {str(NodeId(node.id.site, node.id.latent, p)): 0.0 for p in active(node)}
        await move_to(app, pilot, str(node.id))
        await pilot.press("E")
        await settle(app, pilot)
        assert dict(app.ex.ablations) == want
        direct = ref.ablate(want)
        assert app.ex.ablation.delta == pytest.approx(direct.delta, rel=1e-4, abs=1e-5)
        assert app.ex.ablation.estimated_delta == pytest.approx(direct.estimated_delta, rel=1e-6, abs=1e-9)
        assert f" · {fmt.site(node.id.site)}:{node.id.latent} at {len(want)} active position(s)" in app.status.last
        await pilot.press("E")  # again: undo
        await settle(app, pilot)
        assert not app.ex.ablations


def latent_means(tracer, nids) -> dict[str, float]:
    """Each latent's mean activation over the sample prompts (every position but BOS), from plain traces."""
    from tracer_tui.engine.means import sample_prompt_texts

    totals, count = dict.fromkeys(map(str, nids), 0.0), 0
    skip = 1 if tracer.adapter.prepends_bos else 0
    for text in sample_prompt_texts():
        ids = tracer.adapter.tokenize(text)[0, : tracer.adapter.cfg.n_ctx].tolist()  # the context's worth
        trace = tracer.trace(ids)
        for nid in nids:
            totals[str(nid)] += sum(trace.activation_profile(f"{nid.site}:{nid.latent}@0")[skip:])
        count += len(ids) - skip
    return {k: v / count for k, v in totals.items()}


async def test_mean_ablation_moves_the_latent_to_its_mean_and_estimates_with_the_gradient(
        bundle_dir, tiny_tracer, independent, tui_dirs):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot, PROMPT)
        node = next(n for n in app.ex.trace.nodes if not n.id.is_error)
        key = str(node.id)
        await move_to(app, pilot, key)
        await pilot.press("M")
        await pilot.press("a")
        await settle(app, pilot)
        scale = app.ex.ablations[key]
        mean = latent_means(independent, [node.id])[key]
        assert mean > 0 and scale * node.activation == pytest.approx(mean, rel=1e-4)
        ref = independent.trace(PROMPT)
        direct = ref.ablate({key: mean / node.activation})
        r = app.ex.ablation
        assert r.delta == pytest.approx(direct.delta, rel=1e-3, abs=1e-5)
        # The estimate is (mean − a)·g with g = dm/da, here by central finite differences of real runs.
        eps = 1e-3
        g = (ref.ablate({key: 1 + eps}).delta - ref.ablate({key: 1 - eps}).delta) / (2 * eps * node.activation)
        assert r.estimated_delta == pytest.approx((mean - node.activation) * g, rel=2e-2, abs=1e-4)
        assert f"Δ actual {r.delta:+.3f} est {r.estimated_delta:+.3f}" in app.tree.root_text().plain
        assert " μ " in row_text(app, key) and "μ: ablated to its mean activation" in details_text(app)
        app.save_now()
    assert sessions.load_session(sessions.resolve_resume("last")).mean_ablated == [key]
    again = make_app(bundle_dir, tiny_tracer, resume="last")
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_loaded(again, pilot)
        await settle(again, pilot)
        assert again.ex.ablations == {key: scale} and " μ " in row_text(again, key)
        assert again.ex.ablation.delta == pytest.approx(r.delta, rel=1e-6)
        again.tree.focus()
        await move_to(again, pilot, key)
        await pilot.press("s")  # another scale: no longer the mean
        await answer(again, pilot, "2")
        assert " ×2 " in row_text(again, key)
        await pilot.press("a")  # a on an ablated node removes it, whatever the mode
        await settle(again, pilot)
        assert not again.ex.ablations


# ---- nodes reached by several paths -------------------------------------------------------------------------------
@pytest.mark.skipif(not (DEMO / "model" / "config.json").is_file(), reason="the demo bundle is not built yet")
async def test_nodes_reached_by_several_paths_are_marked_and_O_jumps(demo):
    app = make_app(DEMO, demo)
    async with app.run_test(size=(120, 60)) as pilot:
        await traced(app, pilot, EIFFEL)
        parents = [str(n.id) for n in app.ex.trace.nodes if app.ex.trace.has_upstream(n.id)][:4]
        for key in parents:
            await move_to(app, pilot, key)
            await pilot.press("l")
            await settle(app, pilot)
            app.tree.cursor_to(app.tree.occurrences(key)[0])
            await pilot.press("enter")  # close it again, so the next one is on screen
            await settle(app, pilot)
        seen: dict[str, list[str]] = {}
        for p in parents:
            for n in app.ex.trace.children[p]:
                seen.setdefault(str(n.id), []).append(p)
        shared, where = next((k, ps) for k, ps in seen.items() if len(ps) > 1)
        rows = app.tree.occurrences(shared)
        assert [r.data.parent for r in rows] == where
        assert f"⋔{len(where)}" in app.tree.row_text(rows[0].data).plain
        assert not rows[1].parent.is_expanded
        rows[0].parent.expand()
        await pilot.pause()
        app.tree.cursor_to(rows[0])
        await pilot.pause()
        assert app.tree.cursor_node is rows[0]
        await pilot.press("O")
        await settle(app, pilot)
        assert app.tree.cursor_node is rows[1] and rows[1].parent.is_expanded  # its closed branch was opened
        assert f"occurrence 2 of {len(where)}" in app.status.last
        for _ in range(len(where) - 1):
            await pilot.press("O")
            await settle(app, pilot)
        assert app.tree.cursor_node is rows[0]  # wraps


# ---- every key is in the help and the palette --------------------------------------------------------------------
async def test_new_keys_are_in_help_and_palette(bundle_dir, tiny_tracer):
    keys = {k.id: k for k in KEYS}
    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(help_table({}))
    text = console.export_text()
    for name in NEW_KEYS:
        k = keys[name]
        assert f"tracer.{name}" in text and display_keys(k.keys) in text
    assert display_keys(keys["edit-prompt"].keys) == "i"
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert all(keys[name].description in titles for name in NEW_KEYS)


async def test_A_in_mean_mode_takes_the_shown_rows_to_their_means(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        app.auto_verify_k = 0  # no verified rows: A takes the rows shown
        await traced(app, pilot)
        nodes = app.ex.trace.nodes
        latents = [n for n in nodes if not n.id.is_error]
        errors = len(nodes) - len(latents)
        app.tree.focus()
        await pilot.press("M", "A")
        await settle(app, pilot)
        means = latent_means(independent, [n.id for n in latents])
        want = {str(n.id): means[str(n.id)] / n.activation for n in latents}
        assert dict(app.ex.ablations) == pytest.approx(want, rel=1e-4)
        left_out = f", {errors} error node(s) left out" if errors else ""
        assert f"the top {len(latents)} of the target (the shown rows{left_out}) → mean" in app.status.last
        assert all(" μ " in row_text(app, k) for k in want)  # μ, not a long scale, keeps the columns
        direct = independent.trace(PROMPT).ablate(want)
        assert app.ex.ablation.delta == pytest.approx(direct.delta, rel=1e-3, abs=1e-5)
        estimate = sum((means[str(n.id)] - n.activation) * n.attribution / n.activation for n in latents)
        assert app.ex.ablation.estimated_delta == pytest.approx(estimate, rel=1e-4, abs=1e-7)  # Σ (ā − a)·g


async def test_a_config_folder_that_cannot_be_written_is_one_line(bundle_dir, tiny_tracer, tui_dirs, monkeypatch):
    blocker = tui_dirs / "not-a-folder"
    blocker.write_text("a file where the config folder should be")
    monkeypatch.setenv("TRACER_TUI_CONFIG_DIR", str(blocker / "tracer-tui"))
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(app, pilot)
        app.tree.focus()
        await pilot.press("M")
        await pilot.pause()
        assert app.status.last.startswith(f"settings not saved to {str(blocker / 'tracer-tui' / 'settings.json')!r}")
        assert "\n" not in app.status.last and app.mean_mode and app.is_running


async def test_the_contrast_screen_keeps_the_tree_keys_from_the_tree_under_it(bundle_dir, tiny_tracer):
    """The contrast screen is modal: the new upper-case keys must not ablate or pin in the tree hidden under it."""
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(120, 40)) as pilot:
        await traced(app, pilot)
        await move_to(app, pilot, str(app.ex.trace.nodes[0].id))
        app.contrast_settings = ContrastSettings(samples=8, max_tokens=6, top_k=5, steer_samples=8, random=3, rule="a")
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ContrastScreen)
        await pilot.press("M", "A", "E", "P", "D")
        await settle(app, pilot)
        assert not app.mean_mode and not app.ex.ablations and not app.ex.pins and not app.tree.hide_dense
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("P")  # back on the tree, the keys act again
        assert app.ex.pins == (str(app.ex.trace.nodes[0].id),)
