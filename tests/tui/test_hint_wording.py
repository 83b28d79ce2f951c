"""One engine error, two wordings: the engine's hint names settings, the CLI words them as flags and the TUI as
keys (never as flags)."""

from __future__ import annotations

import pytest
from pilot import make_app, settle, trace_prompt, wait_loaded

from tracer_tui.cli import main
from tracer_tui.cli.render import PHRASES as CLI_PHRASES, describe_error
from tracer_tui.core.errors import SETTINGS, Hint, TracerError
from tracer_tui.tui.wording import PHRASES as TUI_PHRASES, describe

PROMPT = "When Mary and John"


def _phrases(table, example="cpu"):
    return [p(example) if callable(p) else p for p in table.values()]


def test_every_setting_is_worded_by_both_front_ends():
    assert tuple(CLI_PHRASES) == SETTINGS and tuple(TUI_PHRASES) == SETTINGS
    assert all("--" in p for p in _phrases(CLI_PHRASES) if "restart" not in p)
    assert not any("--" in p for p in _phrases(TUI_PHRASES))
    with pytest.raises(ValueError):
        Hint(("no-such-setting",))


async def test_logit_diff_without_a_foil_in_the_cli_and_the_tui(capsys, bundle_dir, tiny_tracer, monkeypatch):
    code = main(["trace", PROMPT, "--metric", "logit-diff", "--model", str(bundle_dir)])
    out, err = capsys.readouterr()
    assert (code, out, err) == (2, "", "tracer-tui: error: metric logit-diff needs a foil token: pass --foil TOKEN\n")

    with pytest.raises(TracerError) as engine_error:
        tiny_tracer.trace(PROMPT, metric="logit-diff")
    assert str(engine_error.value) == "metric logit-diff needs a foil token"  # no flag, no key: a hint instead
    assert engine_error.value.hint == Hint(("foil",))
    assert describe(engine_error.value) == "metric logit-diff needs a foil token: press x to set one"

    def refuse(*args, **kwargs):
        raise engine_error.value

    app = make_app(bundle_dir, tiny_tracer)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(app, pilot)
        monkeypatch.setattr(tiny_tracer, "trace", refuse)
        await trace_prompt(app, pilot, PROMPT)
        await settle(app, pilot)
        assert app.status.last == "trace failed: metric logit-diff needs a foil token: press x to set one"
        assert app.is_running


def test_contrast_without_both_labels_names_flags_in_the_cli_and_keys_in_the_tui():
    from tracer_tui.engine.contrast import check_counts

    with pytest.raises(TracerError) as err:
        check_counts(0, 3, 3)
    cli, code = describe_error(err.value)
    assert code == 2 and cli.endswith("no undesired completions; set the rule (--rule REGEX or --keywords a,b,c), "
                                      "label some by hand (--label I=undesired), or sample more (--samples N)")
    assert describe(err.value).endswith("no undesired completions; change the rule (r), label by hand (u/d), "
                                        "or sample more (c)")


def test_out_of_memory_advice_is_a_hint_both_word():
    import torch

    oom = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert describe_error(oom) == ("out of memory on the device: try a shorter prompt, fewer SAEs (--sae), a smaller "
                                   "--top, or use --device cpu", 1)
    assert describe(oom) == ("out of memory on the device: shorten the prompt or restart tracer-tui on another "
                             "device (e.g. cpu)")
