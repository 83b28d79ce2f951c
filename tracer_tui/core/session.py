"""Saved explorations: JSON files written atomically, so a crash never leaves a half-written session.

No Textual and no torch here. A session records what to replay (prompt, target, metric, expanded nodes in
order, ablations) plus the explored graph in networkx node-link form for other tools. Files live in
``paths.sessions_dir()``; ``last`` there names the latest one.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .defaults import (AUTO_VERIFY_K, DEFAULT_TOP_K, DEFAULT_UPSTREAM, DENSE_THRESHOLD, MAX_TOP_K, METRICS, SORTS,
                       UPSTREAM_MODES)
from .paths import sessions_dir
from .validation import Field, FileFormatError, check, list_of, one_of, optional, text

FORMAT = "tracer-tui-session"
VERSION = 1
LAST = "last"
STALE_TEMP_S = 60.0  # a temp file this old is debris from a killed save


class SessionError(ValueError):
    """A session file that cannot be used; ``str(err)`` is one line for the status bar."""


@dataclass
class Session:
    model: str  # model source (TransformerLens name or bundle path)
    saes: list[str]  # SAE sources
    prompt: str
    target: dict | None = None  # {"token", "id", "position"}
    metric: str = "logprob"
    foil: str | None = None  # logit-diff's subtracted token (saved as "contrast" before 0.2)
    expanded: list[dict] = field(default_factory=list)  # [{"node": id or "target", "offset": n}] in order
    ablations: dict[str, float] = field(default_factory=dict)  # node id -> scale (0 = zero-ablation)
    graph: dict | None = None  # networkx node-link data of the explored structure
    saved: float = 0.0
    # Where children come from (core.defaults.UPSTREAM_MODES). Files from before levels existed have no field:
    # they were explored with every upstream site pooled, so they open in "all".
    upstream: str = DEFAULT_UPSTREAM
    auto_verify_k: int = AUTO_VERIFY_K  # rows of each new level verified by real ablations (0: off)
    dense_threshold: float = DENSE_THRESHOLD  # latents firing on more than this share of tokens are marked dense
    pins: list[str] = field(default_factory=list)  # pinned node ids (older files have none)
    notes: dict[str, str] = field(default_factory=dict)  # node id -> the user's note (older files have none)
    mean_ablated: list[str] = field(default_factory=list)  # ablations whose scale takes the latent to its mean
    filter: str = ""  # the tree's `/` filter
    sort: dict[str, str] = field(default_factory=dict)  # level -> its order (core.defaults.SORTS), where f set one
    # Rows per page when it was explored (the screen's height): a resume pages the same way, so saved offsets line
    # up on any terminal. Older files paged by the engine's default.
    page_rows: int = DEFAULT_TOP_K

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data, source: str = "session") -> Session:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SessionError(f"{source} is not a tracer-tui session file")
        if data.get("version") != VERSION:
            raise SessionError(f"{source} has session version {data.get('version')!r}; this tracer-tui reads "
                               f"version {VERSION}")
        try:
            damaged = f"{source} is damaged"
            check(data, _SCHEMA, None, damaged)
            check(data.get("target") or {}, _TARGET, None, damaged, prefix="target.")
            for i, entry in enumerate(data.get("expanded", [])):
                check(entry, _EXPANDED, None, damaged, prefix=f"expanded[{i}].")
        except FileFormatError as err:  # names the field and what was expected; nothing is coerced
            raise SessionError(str(err)) from None
        return cls(model=data["model"], saes=list(data["saes"]), prompt=data["prompt"], target=data.get("target"),
                   metric=data.get("metric", "logprob"), foil=data.get("foil", data.get("contrast")),
                   expanded=[{"node": e["node"], "offset": e.get("offset", 0)} for e in data.get("expanded", [])],
                   ablations={k: float(v) for k, v in (data.get("ablations") or {}).items()},
                   graph=data.get("graph"), saved=float(data.get("saved", 0.0)),
                   upstream=data.get("upstream", "all"), auto_verify_k=data.get("auto_verify_k", AUTO_VERIFY_K),
                   dense_threshold=float(data.get("dense_threshold", DENSE_THRESHOLD)),
                   pins=list(data.get("pins", [])), notes=dict(data.get("notes") or {}),
                   mean_ablated=list(data.get("mean_ablated", [])), filter=data.get("filter", ""),
                   sort=dict(data.get("sort") or {}), page_rows=data.get("page_rows", DEFAULT_TOP_K))

    def check_model(self, model: str, saes: list[str], source: str = "session") -> None:
        """Refuse to replay a session on another model or other SAEs."""
        if self.model != model or sorted(self.saes) != sorted(saes):
            raise SessionError(f"{source} was saved with model {self.model!r} and {len(self.saes)} SAE(s); "
                               f"the loaded model is {model!r}: start with --model {self.model} to resume it "
                               "(the file is kept unchanged)")


def _notes(notes: dict) -> str | None:
    bad = next((k for k, v in notes.items() if not isinstance(v, str)), None)
    return None if bad is None else f"must map node ids to strings (the note of {bad} is not one)"


def _sorts(sort: dict) -> str | None:
    bad = next((k for k, v in sort.items() if v not in SORTS), None)
    return None if bad is None else f"must map levels to one of {', '.join(SORTS)} (the order of {bad} is not one)"


def _scales(ablations: dict) -> str | None:
    bad = next((k for k, v in ablations.items() if isinstance(v, bool) or not isinstance(v, (int, float))
                or not math.isfinite(v)), None)
    return None if bad is None else f"must map node ids to finite numbers (the scale of {bad} is not one)"


# Settings a session shares with the remembered settings (tui/settings.py checks them the same way).
SETTING_FIELDS = {
    "upstream": Field((str,), False, one_of(UPSTREAM_MODES)),
    "auto_verify_k": Field((int,), False, lambda v: None if v >= 0 else "must be >= 0 (0 = off)"),
    "dense_threshold": Field((float,), False, lambda v: None if 0 <= v <= 1 else "must be a share from 0 to 1"),
}
# What a session file holds; every field is checked, none is coerced (a wrong type is a damaged session).
_SCHEMA = {
    "model": text(), "saes": list_of(str, required=True), "prompt": Field((str,), True), "target": optional((dict,)),
    "metric": Field((str,), False, one_of(METRICS)), "foil": optional((str,)), "contrast": optional((str,)),
    "expanded": list_of(dict), "ablations": Field((dict,), False, _scales, "an object of node id -> scale"),
    "graph": optional((dict,)), "saved": Field((float,)),
    **SETTING_FIELDS,
    "pins": list_of(str), "mean_ablated": list_of(str), "filter": Field((str,)),
    "sort": Field((dict,), False, _sorts, "an object of level -> order"),
    "notes": Field((dict,), False, _notes, "an object of node id -> note"),
    "page_rows": Field((int,), False, lambda v: None if 1 <= v <= MAX_TOP_K else f"must be between 1 and {MAX_TOP_K}"),
}
_TARGET = {"token": optional((str,)), "id": optional((int,)),
           "position": Field((int, type(None)), False, lambda v: None if v is None or v >= 0 else "must be >= 0")}
_EXPANDED = {"node": Field((str,), True),
             "offset": Field((int,), False, lambda v: None if v >= 0 else "must be >= 0")}


def atomic_write(path: Path, text: str) -> None:
    """Temp file in the same directory, fsync, then os.replace: readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (best effort; not possible on every platform)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    sweep_stale_temps(path)


def sweep_stale_temps(path: Path, older_than: float = STALE_TEMP_S) -> None:
    """Delete temp files that a writer killed mid-save left beside ``path``. Only old ones: a fresh temp file may
    belong to another process saving right now."""
    now = time.time()
    for tmp in Path(path).parent.glob(f".{glob.escape(Path(path).name)}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
        except OSError:
            pass


def new_session_path(prompt: str = "", directory: Path | None = None) -> Path:
    directory = directory or sessions_dir()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", prompt).strip("-")[:32].lower() or "session"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = directory / f"{stamp}-{slug}.json"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{stamp}-{slug}-{n}.json"
    return path


def save_session(session: Session, path: Path, directory: Path | None = None) -> Path:
    """Write ``session`` to ``path`` atomically and point ``last`` at it."""
    session.saved = time.time()
    atomic_write(path, json.dumps(session.to_json(), indent=1))
    directory = directory or Path(path).parent
    atomic_write(directory / LAST, str(Path(path).resolve()) + "\n")
    return Path(path)


def resolve_resume(spec: str, directory: Path | None = None) -> Path:
    """``"last"`` -> the latest session file; anything else is a path."""
    directory = directory or sessions_dir()
    if spec != LAST:
        return Path(os.path.expanduser(spec))
    pointer = directory / LAST
    try:
        target = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        raise SessionError(f"no saved session to resume (nothing in {directory})") from None
    if not target:
        raise SessionError(f"{pointer} is empty: no saved session to resume")
    return Path(target)


def load_session(path: Path) -> Session:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError(f"session file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SessionError(f"cannot read session {path}: {err}") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise SessionError(f"session {path} is corrupt or truncated (not valid JSON); it was left untouched") from None
    return Session.from_json(data, f"session {path}")
