"""Pilot tests of the contrast screen (n) at 80×24: the real engine on the tiny seeded bundle, every number shown
checked against an independent engine call with the same seed."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tracer_tui.engine.tracer import Tracer
from tracer_tui.tui import format as fmt
from tracer_tui.tui.screens.ask import AskScreen
from tracer_tui.tui.screens.contrast import ContrastScreen, ContrastSettings, steer_line

from pilot import SlowTracer, make_app, settle, wait_for, wait_loaded

PROMPT = "When Mary and John"
RULE = "a"  # on the tiny model with seed 0: 2 of 8 completions undesired
SIZE = (80, 24)
K = 10


@pytest.fixture(scope="module")
def independent(bundle_dir):
    return Tracer.load(model=str(bundle_dir))


def settings(rule=RULE) -> ContrastSettings:
    return ContrastSettings(samples=8, max_tokens=6, top_k=K, steer_samples=8, random=3, rule=rule)


async def open_screen(app, pilot, rule=RULE) -> ContrastScreen:
    await wait_loaded(app, pilot)
    app.contrast_settings = settings(rule)
    app.prompt_input.value = PROMPT
    app.tree.focus()
    await pilot.press("n")
    await pilot.pause()
    return app.screen


def column(table, index: int) -> list[str]:
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


async def test_sample_relabel_mode_steer_open(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot)
        assert isinstance(screen, ContrastScreen) and screen.rule == RULE
        await pilot.press("s")
        await settle(app, pilot)
        ref = independent.contrast(PROMPT, samples=8, max_tokens=6, rule=RULE, seed=0)
        comps, lat = screen.completions_table, screen.latents_table
        assert [c.text for c in screen.contrast.completions] == [c.text for c in ref.completions]
        assert column(comps, 0) == ["✗" if c.undesired else "✓" for c in ref.completions]
        assert column(lat, 1) == [x.id for x in ref.top(K)]
        before = column(lat, 2)
        assert before == [fmt.signed(x.delta_attribution) for x in ref.top(K)]
        assert column(lat, 3) == [fmt.num(x.delta_se) for x in ref.top(K)]
        top2 = ref.top(2)
        a, b = top2
        gap = (a.delta_attribution - b.delta_attribution) / (a.delta_se ** 2 + b.delta_se ** 2) ** 0.5
        line = str(screen.query_one("#contrast-overlap").render())
        assert f"act-diff top {K}: {ref.overlap(K)} · #1–#2 {gap:.1f} se" in line

        # Relabel completion 1 (the rule says desired) as undesired: Δ is the engine's relabel, no recompute.
        assert ref.completions[1].undesired is False
        await pilot.press("down", "u")
        await pilot.pause()
        relabelled = ref.relabel({1: True})
        assert column(lat, 2) == [fmt.signed(x.delta_attribution) for x in relabelled.top(K)] != before
        assert column(comps, 0)[1] == "✗"
        await pilot.press("space")  # ✗ → ✓: back to the rule's labels
        await pilot.pause()
        assert column(lat, 2) == before

        # Mean mode recomputes on the same completions and labels.
        await pilot.press("m")
        await settle(app, pilot)
        mean = independent.contrast(PROMPT, completions=ref.completions, mode="mean")
        assert screen.mode == "mean" and column(lat, 1) == [x.id for x in mean.top(K)]
        await pilot.press("m")
        await settle(app, pilot)
        assert column(lat, 1) == [x.id for x in ref.top(K)]

        # Steer the highlighted (top) latent, then with negative α: the same numbers as a direct call.
        latent = ref.top(K)[0].id
        await pilot.press("g")
        await settle(app, pilot)
        direct = independent.steer(PROMPT, latent, samples=8, rule=RULE, random=3, seed=0, max_tokens=6)
        got = screen.steered
        assert (got.latent, got.rate, got.unsteered_rate, got.alpha) == (latent, direct.rate, direct.unsteered_rate,
                                                                        direct.alpha)
        assert got.random_band == direct.random_band
        assert str(screen.query_one("#contrast-steer").render()) == steer_line(direct)
        await pilot.press("minus")
        await settle(app, pilot)
        negative = independent.steer(PROMPT, latent, samples=8, rule=RULE, random=3, seed=0, max_tokens=6,
                                     multiplier=-4.0)
        assert screen.steered.alpha == negative.alpha < 0 and screen.steered.rate == negative.rate

        # Open: the tree traces prompt + the highlighted completion up to where the latent matters most for it,
        # with the completion's next token as the target, and points at the latent. (The tiny model also samples
        # byte sequences that decode and re-encode differently; such completions are traced whole.)
        index, want = next((i, ref.focus(i, latent)) for i, c in enumerate(ref.completions)
                           if c.text.isprintable() and ref.focus(i, latent) is not None)
        await pilot.press("up", *["down"] * index, "o")
        await settle(app, pilot)
        assert not isinstance(app.screen, ContrastScreen)
        request = app.ex.request
        assert request is not None, app.status.last
        assert (request.prompt, request.position, request.target_id) == (want.text, want.position, want.target_id)
        assert app.ex.trace.target.position == want.position and app.ex.trace.target.id == want.target_id
        assert f"contrast latent {latent}: highlighted" in app.status.last
        assert app.tree.cursor_node.data.key.startswith(f"{latent}@")


async def test_escape_cancels_sampling_without_stale_results(bundle_dir, tiny_tracer):
    slow = SlowTracer(tiny_tracer)
    app = make_app(bundle_dir, slow)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("s")
        await wait_for(pilot, slow.started.is_set)
        await pilot.press("escape")
        assert screen.status.last.startswith("cancelled")
        slow.release.set()
        await settle(app, pilot)
        await wait_for(pilot, lambda: slow.active == 0)
        await pilot.pause()
        assert app.screen is screen and screen.contrast is None and screen.completions_table.row_count == 0
        assert screen.status.last.startswith("cancelled")
        await pilot.press("s")  # still usable
        await settle(app, pilot)
        assert screen.completions_table.row_count == 8 and screen.latents_table.row_count == K
        await pilot.press("escape")  # nothing running: closes
        await pilot.pause()
        assert app.screen is not screen


async def test_bad_rule_and_one_sided_labels_are_one_line_errors(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(app, pilot, rule=None)
        ask = app.screen
        assert isinstance(ask, AskScreen)  # no rule yet: asked for one
        ask.query_one(Input).value = "(unclosed"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is ask and "bad rule regex" in str(ask.query_one("#ask-error").content)  # kept, to fix
        await pilot.press("escape")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ContrastScreen) and screen.rule is None
        assert screen.status.last.startswith("no rule")
        await pilot.press("s")
        assert screen.status.last.startswith("no rule yet")

        await pilot.press("r")
        app.screen.query_one(Input).value = "zzzz"  # matches nothing: no undesired completions
        await pilot.press("enter")
        await pilot.press("s")
        await settle(app, pilot)
        assert app.screen is screen and "at least one undesired" in screen.status.last

        await pilot.press("r")
        app.screen.query_one(Input).value = RULE
        await pilot.press("enter")
        await pilot.press("s")
        await settle(app, pilot)
        assert screen.latents_table.row_count == K
        await pilot.press("d", "down", "d")  # mark the two undesired ones desired: no Δ, the table empties
        await pilot.pause()
        await pilot.press("down", "d", "down", "d", "down", "d", "down", "d", "down", "d", "down", "d")
        await pilot.pause()
        assert "at least one undesired" in screen.status.last and screen.latents_table.row_count == 0
        await pilot.press("g")
        assert screen.status.last.startswith("no ranked latents")
        assert app.screen is screen


async def test_strength_and_sizes_keys_change_what_steering_and_sampling_do(bundle_dir, tiny_tracer, independent):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("c")
        app.screen.query_one(Input).value = "samples=6 steer=4 random=1 temperature=0.7"
        await pilot.press("enter")
        await pilot.press("s")
        await settle(app, pilot)
        ref = independent.contrast(PROMPT, samples=6, max_tokens=6, temperature=0.7, rule=RULE, seed=0)
        assert [c.text for c in screen.contrast.completions] == [c.text for c in ref.completions]
        assert app.contrast_settings.samples == 6  # kept by the app for the next visit

        await pilot.press("a")
        app.screen.query_one(Input).value = "2x"
        await pilot.press("enter", "g")
        await settle(app, pilot)
        latent = screen.ranking[0].id
        direct = independent.steer(PROMPT, latent, samples=4, rule=RULE, random=1, seed=0, max_tokens=6,
                                   temperature=0.7, multiplier=2.0)
        assert (screen.steered.alpha, screen.steered.rate, screen.steered.random_band) == (
            direct.alpha, direct.rate, direct.random_band)
        assert screen.steered.multiplier == 2.0

        await pilot.press("a")
        app.screen.query_one(Input).value = "1.5"  # absolute α; - steers with -1.5
        await pilot.press("enter", "minus")
        await settle(app, pilot)
        direct = independent.steer(PROMPT, latent, alpha=-1.5, samples=4, rule=RULE, random=1, seed=0,
                                   max_tokens=6, temperature=0.7)
        assert screen.steered.alpha == -1.5 and screen.steered.rate == direct.rate

        for key, bad, start in (("a", "0", "strength must not be 0"), ("c", "samples=0", "samples must be"),
                                ("c", "colour=red", "can't read")):
            before = app.contrast_settings
            await pilot.press(key)
            app.screen.query_one(Input).value = bad
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is screen and screen.status.last.startswith(start)
            assert app.contrast_settings == before


async def test_completions_added_by_hand_join_the_contrast(bundle_dir, tiny_tracer, independent, tmp_path):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot)
        await pilot.press("p")
        app.screen.query_one(Input).value = r" and a cat\nsat"  # before sampling: kept for the sampling
        await pilot.press("enter")
        await pilot.pause()
        assert screen.status.last.startswith("added 1 completion(s) ✗")
        await pilot.press("s")
        await settle(app, pilot)
        mine = (" and a cat\nsat", True)
        ref = independent.contrast(PROMPT, completions=[mine], samples=8, max_tokens=6, rule=RULE, seed=0)
        assert [(c.text, c.undesired) for c in screen.contrast.completions] == [
            (c.text, c.undesired) for c in ref.completions]
        assert screen.completions_table.row_count == 9 and column(screen.completions_table, 2)[0] == " and a cat⏎sat"

        # After sampling: a file of two more is attributed together with what is there, labels kept.
        f = tmp_path / "more.txt"
        f.write_text(" the end\n---\n but why\n")
        await pilot.press("p")
        app.screen.query_one(Input).value = f"@{f}"
        await pilot.press("enter")
        await settle(app, pilot)
        from tracer_tui.engine.labeling import label, read_completions_file

        added = label(read_completions_file(f), rule=RULE)
        assert [c.text for c in added] == [" the end", " but why"]
        want = independent.contrast(PROMPT, completions=[*ref.completions, *added])
        assert screen.completions_table.row_count == 11
        assert column(screen.latents_table, 1) == [x.id for x in want.top(K)]
        assert column(screen.latents_table, 2) == [fmt.signed(x.delta_attribution) for x in want.top(K)]

        await pilot.press("p")
        app.screen.query_one(Input).value = f"@{tmp_path / 'missing.txt'}"
        await pilot.press("enter")
        await pilot.pause()
        assert "does not exist" in screen.status.last and screen.completions_table.row_count == 11
