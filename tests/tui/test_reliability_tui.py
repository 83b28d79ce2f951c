"""Reliability of the TUI pieces at its edges: dialogs under repeated keys, a stdin that is not a terminal, theme
and keymap files that are absurd, and export to a path that cannot be written (docs/errors.md)."""

from __future__ import annotations

import io
import os

import pytest

from tracer_tui.core.errors import TracerError
from tracer_tui.tui.keymap import load_keymap
from tracer_tui.tui.launch import check_terminal
from tracer_tui.tui.screens.ask import AskScreen
from tracer_tui.tui.themes import ThemeFileError, load_theme_specs, read_theme_file

from pilot import PROMPT, assert_recovers, make_app, settle, trace_target, wait_loaded

DEEP = 100_000


@pytest.mark.parametrize("keys", [("enter", "enter"), ("enter", "enter", "enter", "escape"), ("escape", "escape"),
                                  ("escape", "enter")], ids=["enter twice", "enter thrice then esc", "esc twice",
                                                             "esc then enter"])
async def test_dialog_answers_once_under_repeated_keys(bundle_dir, tiny_tracer, keys):
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await trace_target(app, pilot)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, AskScreen)
        app.screen.query_one("#ask-input").value = " John"
        await pilot.press(*keys)  # no pause between them: as fast as a key repeat
        await settle(app, pilot)
        assert app.is_running and not isinstance(app.screen, AskScreen)
        if keys[0] == "enter":
            assert app.ex.trace.target.token == " John"
        await assert_recovers(app, pilot)


async def ask(app, pilot, answers: list) -> AskScreen:
    """A dialog on the loaded app whose answers go to ``answers``."""
    await wait_loaded(app, pilot)
    screen = AskScreen("question?", "x")
    app.push_screen(screen, answers.append)
    await pilot.pause()
    return screen


async def test_two_queued_enters_answer_once(bundle_dir, tiny_tracer):
    """Two Enter events already queued when the first one dismisses the dialog (a fast double press)."""
    from textual.widgets import Input

    app = make_app(bundle_dir, tiny_tracer)
    answers = []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ask(app, pilot, answers)
        box = screen.query_one(Input)
        box.post_message(Input.Submitted(box, "x"))
        box.post_message(Input.Submitted(box, "x"))
        await pilot.pause()
        await pilot.pause()
        assert answers == ["x"] and app.is_running and app.screen is not screen


async def test_dialog_answer_after_dismissal_is_ignored(bundle_dir, tiny_tracer):
    """Both paths to an answer, called again after the first one (what a queued key does), do nothing."""
    app = make_app(bundle_dir, tiny_tracer)
    answers = []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await ask(app, pilot, answers)
        screen.action_cancel()
        screen.action_cancel()
        screen._answer("late")
        await pilot.pause()
        assert answers == [None] and app.is_running


class _Closed(io.StringIO):
    def isatty(self):
        raise ValueError("I/O operation on closed file")


@pytest.mark.parametrize("stdin", [None, io.StringIO(""), _Closed()], ids=["no stdin", "redirected", "closed"])
def test_stdin_that_is_not_a_terminal_is_refused_before_textual(stdin, monkeypatch):
    monkeypatch.setattr("sys.stdin", stdin)
    with pytest.raises(TracerError, match="the terminal UI needs a terminal, but standard input is not one"):
        check_terminal()


def test_stdin_from_dev_null_is_one_line_from_the_cli():
    import subprocess
    import sys

    with open(os.devnull) as null:
        out = subprocess.run([sys.executable, "-m", "tracer_tui.cli"], stdin=null, capture_output=True, text=True,
                             timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("tracer-tui: error: the terminal UI needs a terminal") and out.stderr.count("\n") == 1


@pytest.mark.parametrize("suffix,text", [(".json", "[" * DEEP + "]" * DEEP),
                                         (".toml", "name = " + "[" * DEEP + "]" * DEEP),
                                         (".json", '{"name": "x", "primary": "#ffffff", "dark": "no"}'),
                                         (".json", "\ufeff{\"name\": 5}"),
                                         (".toml", "\xff\xfe")],
                         ids=["json 100k deep", "toml 100k deep", "dark not a boolean", "name not text",
                              "not utf-8"])
def test_absurd_theme_files_are_one_line(tmp_path, suffix, text):
    path = tmp_path / f"t{suffix}"
    path.write_bytes(text.encode("latin-1") if text.startswith("\xff") else text.encode("utf-8"))
    with pytest.raises(ThemeFileError) as err:
        read_theme_file(path)
    message = str(err.value)
    assert message.startswith(f"theme file {path}") and "\n" not in message, message
    specs, errors = load_theme_specs([tmp_path])  # the loader skips it with that line
    assert errors == [message] and "tracer-dark" in specs


@pytest.mark.parametrize("text,expected", [("keys = " + "[" * DEEP + "]" * DEEP, "nested more than 64 levels deep"),
                                           ('[keys]\nablate = ""\n', "values must be key strings: ablate")],
                         ids=["100k deep", "empty keys"])
def test_absurd_keymaps_are_one_line(tmp_path, text, expected):
    path = tmp_path / "keymap.toml"
    path.write_text(text)
    keymap, message = load_keymap(path)
    assert keymap == {} and expected in message and message.startswith(f"keymap {path}")


async def test_app_starts_with_absurd_theme_and_keymap(bundle_dir, tiny_tracer, tui_dirs):
    config = tui_dirs / "config"
    (config / "themes").mkdir(parents=True)
    (config / "themes" / "deep.json").write_text("[" * DEEP + "]" * DEEP)
    (config / "keymap.toml").write_text("keys = " + "[" * DEEP + "]" * DEEP)
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        last = app.status.last
        assert f"theme file {config / 'themes' / 'deep.json'}: nested more than 64 levels deep" in last, last
        assert f"keymap {config / 'keymap.toml'}: nested more than 64 levels deep" in last, last
        assert "unexpected" not in last
        await assert_recovers(app, pilot, PROMPT)


def _bad_export_paths(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o500)
    return {"parent is a file": str(a_file / "graph.json"), "read-only folder": str(read_only / "sub" / "g.json"),
            "unknown user's home": "~nouser-tracer-xyz/graph.json"}


@pytest.mark.parametrize("case", ["parent is a file", pytest.param("read-only folder", marks=pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")),
    "unknown user's home"])
async def test_export_to_a_bad_path_is_reported_and_the_app_stays_up(bundle_dir, tiny_tracer, tmp_path, monkeypatch,
                                                                     case):
    monkeypatch.chdir(tmp_path)  # a '~nouser' that is not expanded must not land in the repository
    target = _bad_export_paths(tmp_path)[case]
    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await trace_target(app, pilot)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#ask-input").value = target
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.is_running
        assert "export" in app.status.last and "unexpected" not in app.status.last, app.status.last
        await assert_recovers(app, pilot)


async def test_an_sae_trained_on_another_model_is_a_warning_after_loading(tmp_path):
    """The engine's load warnings (tracer.warnings) reach the status line once the model is up."""
    from helpers import make_model, make_sae

    from tracer_tui.engine.bundle import save_model_dir

    model = make_model(seed=4)
    save_model_dir(model, tmp_path / "model")
    make_sae("blocks.1.hook_resid_pre", model.cfg.d_model, seed=4, model_name="pythia-70m").save_model(
        tmp_path / "saes" / "blocks.1.hook_resid_pre")
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        assert "warning: SAE" in app.status.last and "trained on model 'pythia-70m'" in app.status.last, \
            app.status.last
