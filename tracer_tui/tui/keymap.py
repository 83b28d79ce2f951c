"""User keymap: ``keymap.toml`` in the config dir maps binding ids to keys, e.g. ``ablate = "space,x"``."""

from __future__ import annotations

from pathlib import Path

from ..core import paths
from ..core import validation as v

RENAMED = {"contrast": "foil"}  # binding ids renamed since (x sets the foil token); old keymaps keep working


def _current_id(binding_id: str) -> str:
    prefix = "tracer." if binding_id.startswith("tracer.") else ""
    name = binding_id.removeprefix(prefix)
    return prefix + RENAMED.get(name, name)


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """(binding id -> keys, error message or None). A missing file is an empty keymap."""
    path = path or paths.keymap_file()
    if not path.is_file():
        return {}, None
    try:
        data = v.read_toml(path, "keymap", quote=False)
    except v.FileFormatError as err:  # unreadable, not UTF-8, bad TOML, nested absurdly deep
        return {}, f"{err} (ignored)"
    table = data.get("keys", data)
    if not isinstance(table, dict):
        return {}, f"keymap {path}: [keys] must be a table of binding id = \"keys\" (ignored)"
    keymap = {_current_id(str(k)): str(x) for k, x in table.items() if isinstance(x, str) and x.strip()}
    bad = [k for k, x in table.items() if not isinstance(x, str) or not x.strip()]
    return keymap, (f"keymap {path}: values must be key strings: {', '.join(bad)}" if bad else None)
