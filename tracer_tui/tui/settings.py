"""Settings remembered between runs: ``settings.json`` in the config dir (theme, auto-verify k, dense threshold,
upstream mode, hidden dense latents, the tree's sort, mean-ablation mode).

Written atomically (``core.session.atomic_write``) after every change. Read through the validation layer: a
damaged file, or one field of the wrong type, is a one-line warning and the defaults, never a crash. A session
being resumed, or a command-line option, wins over these.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from ..core import paths
from ..core import validation as v
from ..core.defaults import AUTO_VERIFY_K, DEFAULT_UPSTREAM, DENSE_THRESHOLD, SORTS
from ..core.session import SETTING_FIELDS, atomic_write

FILE = "settings.json"


@dataclass(frozen=True)
class Settings:
    theme: str | None = None  # None: the default theme
    auto_verify_k: int = AUTO_VERIFY_K
    dense_threshold: float = DENSE_THRESHOLD
    upstream: str = DEFAULT_UPSTREAM
    hide_dense: bool = False
    sort: str = SORTS[0]
    mean_mode: bool = False

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)


_SCHEMA = {
    **SETTING_FIELDS, "theme": v.optional((str,)), "hide_dense": v.Field((bool,)),
    "sort": v.Field((str,), False, v.one_of(SORTS)), "mean_mode": v.Field((bool,)),
}


def settings_file() -> Path:
    return paths.config_dir() / FILE


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """(settings, a one-line warning or None). A missing file is the defaults, silently."""
    path = path or settings_file()
    if not path.exists():
        return Settings(), None
    try:
        data = v.check(v.read_json(path, "settings"), _SCHEMA, path, "settings")
    except v.FileFormatError as err:
        return Settings(), f"{err} (using the defaults; the file is rewritten at the next change)"
    known = {f.name for f in fields(Settings)}
    values = {k: x for k, x in data.items() if k in known}
    if "dense_threshold" in values:
        values["dense_threshold"] = float(values["dense_threshold"])  # JSON may write 0 for 0.0
    return Settings(**values), None


def save_settings(settings: Settings, path: Path | None = None) -> str | None:
    """Write atomically; returns a one-line warning when the config folder is not writable (never raises)."""
    path = path or settings_file()
    try:
        atomic_write(path, json.dumps(asdict(settings), indent=1) + "\n")
    except OSError as err:
        return f"settings not saved to {str(path)!r}: {err.strerror or err}"
    return None
