"""Where tracer-tui keeps user files. Env overrides (TRACER_TUI_CONFIG_DIR / TRACER_TUI_DATA_DIR) keep tests
out of the real home directory."""

from __future__ import annotations

import os
from pathlib import Path

APP = "tracer-tui"


def config_dir() -> Path:
    env = os.environ.get("TRACER_TUI_CONFIG_DIR")
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP))


def data_dir() -> Path:
    env = os.environ.get("TRACER_TUI_DATA_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP))


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def keymap_file() -> Path:
    return config_dir() / "keymap.toml"


def sessions_dir() -> Path:
    return data_dir() / "sessions"


def log_file() -> Path:
    return data_dir() / "tracer-tui.log"


def repo_dir(name: str) -> Path:
    """A folder shipped with the package (themes/, sample_prompts/)."""
    from .shipped import shipped_dir

    return shipped_dir(name)
