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


def open_log() -> Path | None:
    """Send the ``tracer_tui`` loggers to the debug log (once per file); its path, or None when it cannot be
    written. The TUI opens it at start, the CLI only when it has a bug's traceback to keep."""
    import logging

    try:
        path = log_file()
        logger = logging.getLogger("tracer_tui")
        if not any(getattr(h, "baseFilename", None) == str(path.absolute()) for h in logger.handlers):
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    except OSError:
        return None
    return path


def repo_dir(name: str) -> Path:
    """A folder shipped with the package (themes/, sample_prompts/)."""
    from .shipped import shipped_dir

    return shipped_dir(name)
