"""Bad input typed or loaded in the terminal UI: a clear message in the status line, and the app stays usable
(a new valid trace works afterwards). The CLI side of each row is in test_bad_input.py; docs/errors.md lists both."""

from __future__ import annotations

import json

import pytest
from textual import events

from tracer_tui.core import paths
from tracer_tui.core.defaults import DEFAULT_METRIC
from tracer_tui.tui.screens.help import HelpScreen
from tracer_tui.tui.screens.picker import PickerScreen

from pilot import PROMPT, assert_recovers, make_app, settle, trace_target, wait_loaded


async def _submit(app, pilot, prompt: str) -> None:
    app.prompt_input.focus()
    app.prompt_input.value = prompt
    await pilot.press("enter")
    await settle(app, pilot)


@pytest.mark.parametrize("prompt", ["", "   \t "], ids=["empty", "whitespace"])
async def test_empty_or_whitespace_prompt(bundle_dir, tiny_tracer, prompt):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await _submit(app, pilot, prompt)
        assert app.status.last == "type a prompt first" and app.ex.trace is None
        await assert_recovers(app, pilot)


async def test_control_character_pasted_into_the_prompt(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        app.prompt_input.focus()
        app.prompt_input.post_message(events.Paste("Mary\x07John"))
        await pilot.pause()
        assert app.prompt_input.value == "Mary\x07John"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.status.last == "trace failed: prompt contains control character U+0007 at index 4; remove it"
        await assert_recovers(app, pilot)


async def test_non_utf8_prompt_from_the_command_line(bundle_dir, tiny_tracer):
    # argv bytes that are not UTF-8 arrive as lone surrogates (surrogateescape).
    app = make_app(bundle_dir, tiny_tracer, prompt="Mary \udcff")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        app.prompt_input.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.status.last == ("trace failed: prompt contains bytes that are not valid UTF-8; "
                                   "re-encode it as UTF-8")
        await assert_recovers(app, pilot)


async def test_prompt_longer_than_the_context(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await _submit(app, pilot, "John " * 80)
        assert app.status.last.startswith("trace failed: prompt is 83 tokens, longer than the model's context of 64")
        await assert_recovers(app, pilot)


DIALOGS = [
    ("multi-token target", "g", " Mary and John", "trace failed: target ' Mary and John' is 3 tokens "
     "(' Mary' + ' and' + ' John'), not one; pick a single token, e.g. ' Mary'"),
    ("multi-token foil", "x", " Mary and John", "trace failed: foil ' Mary and John' is 3 tokens"),
    ("foil equals the target", "x", "{target}", "trace failed: foil token {target!r} equals the target: "
     "logit-diff would be 0"),
    ("scale not a number", "s", "big", "scale must be a number (e.g. 2, 0.5, -1), got 'big'"),
    ("scale not finite", "s", "inf", "scale must be a finite number, got 'inf'"),
]


@pytest.mark.parametrize("name,key,text,message", DIALOGS, ids=[d[0] for d in DIALOGS])
async def test_bad_dialog_input(bundle_dir, tiny_tracer, name, key, text, message):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await trace_target(app, pilot)
        before = app.tree.as_data()
        target = app.ex.trace.target.token
        if key == "s":
            app.tree.cursor_line = 2  # the first node row (line 1 is the level's header)
            await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        app.screen.query_one("#ask-input").value = text.format(target=target)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.status.last.startswith(message.format(target=target)), app.status.last
        assert app.tree.as_data() == before and app.ex.ablations == {}  # the trace on screen is kept
        # The failed request does not stick: the metric is back to the one on screen, and tracing works.
        assert app.ex.request.metric == app.ex.trace.target.metric == DEFAULT_METRIC
        await assert_recovers(app, pilot)


LOAD_ERRORS = [
    ("unknown model", dict(model="not-a-model-xyz"), "load failed: unknown model 'not-a-model-xyz': not a "
     "TransformerLens model name"),
    ("device unavailable", dict(device="cuda"), "load failed: device 'cuda' is unavailable: no CUDA GPU is visible"),
    ("dtype unsupported", dict(device="cpu", dtype="float16"), "load failed: dtype float16 is not supported on the "
     "CPU"),
    ("SAE width mismatch", dict(saes=["{narrow}"]), "load failed: SAE '{narrow}' expects d_in=8"),
    # The SAEs' configs are read before the model's weights, so the missing SAE is what the line names first.
    ("no network and an empty HF cache", dict(model="gpt2", saes=["gpt2-small-res-jb/blocks.3.hook_resid_pre"]),
     "load failed: could not load SAE gpt2-small-res-jb/blocks.3.hook_resid_pre: it is not in the Hugging Face "
     "cache"),
]


@pytest.mark.parametrize("name,options,message", LOAD_ERRORS, ids=[e[0] for e in LOAD_ERRORS])
async def test_load_errors_are_shown_and_the_app_stays_up(bundle_dir, tmp_path, monkeypatch, name, options,
                                                          message):
    import huggingface_hub.constants as hub
    import torch

    from helpers import make_sae
    from tracer_tui.tui.app import TracerApp
    from tracer_tui.tui.options import Options

    if name == "device unavailable" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    if name.startswith("no network"):  # as in test_bad_input.py: the hub read its settings at import
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
        monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
        monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    narrow = tmp_path / "narrow"
    make_sae("blocks.0.hook_resid_pre", 8).save_model(narrow)
    options = {k: [s.format(narrow=narrow) for s in v] if k == "saes" else v for k, v in options.items()}
    options.setdefault("model", str(bundle_dir))
    app = TracerApp(Options(show_timings=False, **options))  # the real loader, in a worker
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert app.status.last.startswith(message.format(narrow=narrow)), app.status.last
        assert app.tracer is None and app.is_running
        # Enter does not promise a trace that can never run; it says why, and the keys still work.
        await _submit(app, pilot, PROMPT)
        assert app.status.last.startswith("no model is loaded (" + message.format(narrow=narrow)[len("load failed: "):])
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")


async def test_unknown_theme_broken_theme_and_keymap_then_trace(bundle_dir, tiny_tracer, tui_dirs):
    config = tui_dirs / "config"
    (config / "themes").mkdir(parents=True)
    (config / "themes" / "broken.toml").write_text("name = ")
    (config / "keymap.toml").write_text("keys = 5\n")
    app = make_app(bundle_dir, tiny_tracer, theme="nope")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        last = app.status.last
        assert "unknown theme 'nope' (available: " in last and "using tracer-dark" in last
        assert f"theme file {config / 'themes' / 'broken.toml'}: " in last
        assert f"keymap {config / 'keymap.toml'}: " in last
        assert app.theme == "tracer-dark"
        await assert_recovers(app, pilot)


async def test_broken_sample_prompt_file(bundle_dir, tiny_tracer, tmp_path, monkeypatch):
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "a_broken.toml").write_text('title = "x"\nprompt = \n')
    (samples / "b_unknown_key.toml").write_text('title = "x"\nprompt = "p"\ntarget = " M"\ncolour = 1\n')
    (samples / "c_good.toml").write_text(f'title = "good [/] one [bold"\nprompt = "{PROMPT}"\ntarget = " Mary"\n')
    real = paths.repo_dir
    monkeypatch.setattr(paths, "repo_dir", lambda name: samples if name == "sample_prompts" else real(name))
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(app, pilot)
        app.tree.focus()
        await pilot.press("o")
        await pilot.pause()
        last = app.status.last
        assert last.startswith(f"skipped 2 broken sample prompt file(s): {samples / 'a_broken.toml'}: "), last
        assert "b_unknown_key.toml: unknown keys ['colour']" in last
        (samples / "d_no_target.toml").write_text('title = "x"\nprompt = "p"\n')
        assert "d_no_target.toml: needs the keys title, prompt, target (" in " ".join(app.sample_prompts()[1])
        assert isinstance(app.screen, PickerScreen)  # the good sample is still offered
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.ex.request.prompt == PROMPT and app.ex.trace.target.token == " Mary"
        await assert_recovers(app, pilot, "When Mary")


SESSIONS = [
    ("wrong field types", {"ablations": [1, 2]}, "is damaged: field 'ablations' must be an object"),
    ("unknown node in the ablations", {"ablations": {"blocks.9.hook_resid_pre:1@2": 0.0}},
     "resume failed: unknown node 'blocks.9.hook_resid_pre:1@2': no SAE on site"),
    ("position out of range", {"target": {"token": " x", "id": 5, "position": 999}},
     "resume failed: position 999 is out of range"),
]


@pytest.mark.parametrize("name,fields,message", SESSIONS, ids=[s[0] for s in SESSIONS])
async def test_damaged_session_content_is_reported_and_kept(bundle_dir, tiny_tracer, tui_dirs, name, fields,
                                                            message):
    info = tiny_tracer.info()
    data = {"format": "tracer-tui-session", "version": 1, "model": info["model"]["source"],
            "saes": [s["source"] for s in info["saes"]], "prompt": PROMPT, **fields}
    path = tui_dirs / "session.json"
    path.write_text(json.dumps(data))
    app = make_app(bundle_dir, tiny_tracer, resume=str(path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        await settle(app, pilot)
        assert message in app.status.last, app.status.last
        await assert_recovers(app, pilot, "When Mary")
        await settle(app, pilot)
        assert app.session_path is not None and app.session_path != path
    assert json.loads(path.read_text()) == data  # never overwritten


async def test_empty_custom_target_cancels_the_dialog(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await trace_target(app, pilot)
        before = (app.tree.as_data(), app.status.last)
        await pilot.press("g")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = ""
        await pilot.press("enter")
        await settle(app, pilot)
        assert (app.tree.as_data(), app.status.last) == before  # nothing traced, no message
        assert app.ex.trace.target.token == " Mary"
        await assert_recovers(app, pilot)


async def test_logit_diff_without_a_foil_keeps_the_metric(bundle_dir, tiny_tracer):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await trace_target(app, pilot)
        await pilot.press("m")  # logit-mean (the default) -> logprob
        await settle(app, pilot)
        await pilot.press("m")  # logprob -> logit
        await settle(app, pilot)
        await pilot.press("m")  # logit -> logit-diff: asks for the foil token
        await pilot.pause()
        assert app.screen.query("#ask-input")
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.status.last == "no foil token: metric stays logit"
        assert app.ex.request.metric == app.ex.trace.target.metric == "logit"
        await assert_recovers(app, pilot)
