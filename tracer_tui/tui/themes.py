"""Theme files (TOML/JSON, format in themes/README.md) -> validated specs -> Textual ``Theme`` objects.

Parsing never raises on a bad file: errors come back as one-line messages and the file is skipped.
"""

from __future__ import annotations

from pathlib import Path

from ..core import paths
from ..core import validation as v

DEFAULT_THEME = "tracer-dark"
COLOR_KEYS = ("primary", "secondary", "accent", "background", "surface", "panel", "foreground", "success",
              "warning", "error")
VARIABLES = {"attr-positive": "#5fafff", "attr-negative": "#ff875f", "ablated": "#d787ff",
             "sign-flip": "#d7af00"}  # sign-flip: the ≠ mark of a row whose actual Δ goes against the estimate
# Used when no theme files can be found at all (e.g. a wheel without themes/).
FALLBACK = {"name": DEFAULT_THEME, "dark": True, "primary": "#5fafff", "background": "#121212",
            "surface": "#1c1c1c", "panel": "#303030", "foreground": "#e4e4e4", "variables": dict(VARIABLES)}


class ThemeFileError(ValueError):
    pass


def _check_color(value, where: str) -> str:
    from textual.color import Color, ColorParseError

    if not isinstance(value, str):
        raise ThemeFileError(f"{where} must be a colour string like '#5fafff', got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{where} is not a colour: {value!r} (use '#rrggbb')") from None
    return value


def parse_theme(data: dict, source: str = "theme") -> dict:
    """Validate a theme mapping; returns a clean spec dict or raises ThemeFileError (one line)."""
    if not isinstance(data, dict):
        raise ThemeFileError(f"{source}: expected a table of keys")
    known = {"name", "dark", "variables", *COLOR_KEYS}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ThemeFileError(f"{source}: unknown keys {', '.join(unknown)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError(f"{source}: 'name' is required (a non-empty string)")
    if "primary" not in data:
        raise ThemeFileError(f"{source}: 'primary' is required")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{source}: dark must be true or false, got {dark!r}")
    spec: dict = {"name": name.strip(), "dark": dark}
    for key in COLOR_KEYS:
        if key in data:
            spec[key] = _check_color(data[key], f"{source}: {key}")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{source}: [variables] must be a table")
    spec["variables"] = {**VARIABLES, **{str(k): _check_color(v, f"{source}: variables.{k}")
                                          for k, v in variables.items()}}
    return spec


def read_theme_file(path: Path) -> dict:
    """A theme file through the one file-validation layer (core.validation): unreadable, not UTF-8, bad syntax or
    nested absurdly deep is one line naming the file, never an exception of another type."""
    try:
        data = v.read_structured(path, "theme file", quote=False)
    except v.FileFormatError as err:
        raise ThemeFileError(str(err)) from None
    return parse_theme(data, f"theme file {path}")


def load_theme_specs(dirs: list[Path] | None = None) -> tuple[dict[str, dict], list[str]]:
    """All theme specs from the bundled and user dirs (later dirs win), and messages for broken files."""
    dirs = dirs if dirs is not None else [paths.repo_dir("themes"), paths.user_themes_dir()]
    specs: dict[str, dict] = {DEFAULT_THEME: dict(FALLBACK)}
    errors: list[str] = []
    for folder in dirs:
        if not folder.is_dir():
            continue
        for path in sorted([*folder.glob("*.toml"), *folder.glob("*.json")]):
            try:
                spec = read_theme_file(path)
            except ThemeFileError as err:
                errors.append(str(err))
                continue
            specs[spec["name"]] = spec
    return specs, errors


def to_textual(spec: dict):
    from textual.theme import Theme

    colors = {k: spec[k] for k in COLOR_KEYS if k in spec}
    return Theme(name=spec["name"], dark=spec["dark"], variables=dict(spec["variables"]), **colors)
