"""Theme files: all bundled themes parse and stay readable in 256 colours; broken ones never crash the app."""

from __future__ import annotations

import pytest
from rich.color import Color as RichColor
from rich.color import ColorSystem

from tracer_tui.core.errors import TracerError
from tracer_tui.core import paths
from tracer_tui.tui.app import TracerApp
from tracer_tui.tui.options import Options
from tracer_tui.tui.themes import DEFAULT_THEME, ThemeFileError, load_theme_specs, read_theme_file


BUNDLED = sorted(paths.repo_dir("themes").glob("*.toml"))


def _quantised(hex_colour: str) -> tuple[int, int, int]:
    c = RichColor.parse(hex_colour).downgrade(ColorSystem.EIGHT_BIT)
    t = c.get_truecolor()
    return t.red, t.green, t.blue


def _luminance(rgb) -> float:
    def lin(v):
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(_quantised(a)), _luminance(_quantised(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_at_least_three_bundled_themes():
    names = {read_theme_file(p)["name"] for p in BUNDLED}
    assert {"tracer-dark", "tracer-light", "tracer-high-contrast"} <= names


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_readable_after_256_colour_quantisation(path):
    spec = read_theme_file(path)
    bg = spec["background"]
    assert contrast(spec["foreground"], bg) >= 7.0
    for key in ("attr-positive", "attr-negative", "ablated"):
        assert contrast(spec["variables"][key], bg) >= 4.5, key
    for key in ("primary", "error", "success", "warning"):
        assert contrast(spec[key], bg) >= 3.0, key
    # Positive and negative must not collapse onto one colour.
    assert _quantised(spec["variables"]["attr-positive"]) != _quantised(spec["variables"]["attr-negative"])


def test_broken_and_unknown_themes_fall_back(tmp_path):
    (tmp_path / "bad.toml").write_text("name = 'x'\nprimary = 'not a colour'\n")
    (tmp_path / "worse.toml").write_text("this is [ not toml")
    (tmp_path / "mine.json").write_text('{"name": "mine", "primary": "#ff0000", "dark": false}')
    specs, errors = load_theme_specs([tmp_path])
    assert "mine" in specs and DEFAULT_THEME in specs
    assert len(errors) == 2 and all("theme file" in e for e in errors)
    with pytest.raises(ThemeFileError):
        read_theme_file(tmp_path / "bad.toml")


async def test_app_starts_with_unknown_theme_and_user_themes(tui_dirs):
    user = tui_dirs / "config" / "themes"
    user.mkdir(parents=True)
    (user / "broken.toml").write_text("name = ")
    def no_model(progress):
        raise TracerError("no model in this test")

    app = TracerApp(Options(theme="nope", show_timings=False), tracer_factory=no_model)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "no model in this test" in app.status.last and app.is_running  # load failure: a message
        assert app.theme == DEFAULT_THEME
        assert any("unknown theme 'nope'" in n for n in app.notes)
        assert any("broken.toml" in n for n in app.notes)
        app.theme = "tracer-light"  # switching works and recolours the tree
        await pilot.pause()
        assert app.tree.colours["attr-positive"] == "#005faf"
