"""One validation layer for every file tracer-tui reads: parse, then check against a small schema.

Every reader of a user-editable or cached file (model config.json, SAE cfg.json, labels.json, themes, keymaps,
sample prompts, completions files, means caches) goes through :func:`read_json`, :func:`read_toml`,
:func:`read_jsonl` or :func:`read_text`, then :func:`check` with a schema of :class:`Field`s. Whatever is wrong
comes back as one :class:`FileFormatError` (a ``TracerError``) whose one-line message names the file, the field
and what was expected, e.g.::

    '/b/saes/x/cfg.json': field 'hook_name' must be a string, got int 5
    '/b/model/config.json' is not valid JSON (truncated?): Expecting value at line 3, column 1

Never anything else: deep nesting (a RecursionError in the parser), undecodable bytes, a directory where a file
is expected, and read errors are all FileFormatErrors. Torch-free.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from .errors import TracerError

MAX_DEPTH = 64  # nesting deeper than this in any file we read is refused before it reaches a recursive parser


class FileFormatError(TracerError):
    """A file tracer-tui reads is unreadable or does not fit its schema. ``path`` is the file."""

    def __init__(self, path, message: str):
        super().__init__(message)
        self.path = str(path)


def _where(path) -> str:
    return repr(str(path))


def _at(p, what: str, quote: bool = True) -> str:
    """How a message names the file: ``model config '/b/config.json'`` (or unquoted, or the bare path)."""
    name = _where(p) if quote else str(p)
    return f"{what} {name}" if what else name


def _type_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def expand_path(text, what: str = "path") -> Path:
    """``~`` and ``~user`` expanded; an unknown user (``~nouser/x``) is a FileFormatError, not a RuntimeError."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "Could not determine home directory."
        user = str(text)[1:].split("/", 1)[0]
        raise FileFormatError(text, f"{what} {str(text)!r}: '~{user}' is the home folder of user {user!r}, "
                                    "who does not exist; write the full path") from None


# ---- reading -----------------------------------------------------------------------------------------------------
def read_text(path, what: str = "file", quote: bool = True) -> str:
    """A UTF-8 text file (a leading BOM is dropped). Missing, a directory, unreadable or not UTF-8: one line."""
    p = Path(path)
    at = _at(p, what, quote)
    if not p.exists():
        raise FileFormatError(p, f"{at} does not exist")
    if p.is_dir():
        raise FileFormatError(p, f"{at} is a directory, expected a file")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise FileFormatError(p, f"{at}: could not read it ({err.strerror or err})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FileFormatError(p, f"{at} is not UTF-8 text (bad byte at offset {err.start})") from None


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of JSON or TOML text, ignoring brackets inside strings (a cheap scan)."""
    return _scan(text)[0]


def _unfinished(text: str) -> bool:
    """Whether JSON text ends inside a string or with brackets still open: what a truncated file looks like."""
    _, depth, quote = _scan(text, stop_deep=False)
    return depth > 0 or quote is not None


def _scan(text: str, stop_deep: bool = True) -> tuple[int, int, str | None]:
    """(deepest nesting, nesting at the end, open quote at the end)."""
    depth = deepest = 0
    quote = None
    escaped = comment = False
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_deep and deepest > MAX_DEPTH:
                    return deepest, depth, quote
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest, depth, quote


def _check_depth(p, text: str, at: str) -> None:
    if nesting_depth(text) > MAX_DEPTH:
        raise FileFormatError(p, f"{at}: nested more than {MAX_DEPTH} levels deep; not a file tracer-tui reads")


def parse_json(p, text: str, what: str = "file", quote: bool = True):
    at = _at(p, what, quote)
    _check_depth(p, text, at)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        truncated = " (truncated?)" if err.pos >= len(text.rstrip()) or _unfinished(text) else ""
        raise FileFormatError(p, f"{at}: not valid JSON{truncated}: {err.msg} at line {err.lineno}, "
                                 f"column {err.colno}") from None
    except ValueError as err:  # _no_constant
        raise FileFormatError(p, f"{at}: {err}") from None
    except RecursionError:  # belt and braces: _check_depth should have refused it
        raise FileFormatError(p, f"{at}: nested too deeply") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows; write a finite number")


def read_json(path, what: str = "file", quote: bool = True):
    p = Path(path)
    return parse_json(p, read_text(p, what, quote), what, quote)


def read_toml(path, what: str = "file", quote: bool = True) -> dict:
    p = Path(path)
    at = _at(p, what, quote)
    text = read_text(p, what, quote)
    _check_depth(p, text, at)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise FileFormatError(p, f"{at}: {str(err).splitlines()[0]}") from None
    except RecursionError:
        raise FileFormatError(p, f"{at}: nested too deeply") from None


def read_structured(path, what: str = "file", quote: bool = True):
    """JSON for ``*.json``, TOML otherwise."""
    p = Path(path)
    return read_json(p, what, quote) if p.suffix.lower() == ".json" else read_toml(p, what, quote)


def looks_like_jsonl(text: str) -> bool:
    """Whether text (BOM already dropped) is JSON lines: its first non-blank character opens an object."""
    return text.lstrip().startswith("{")


def parse_jsonl(p, text: str, what: str = "file", where: str | None = None) -> list[tuple[int, Any]]:
    """[(line number, value)] of the non-blank lines; a bad line names the file (``where``, default
    ``what 'path'``) and its number."""
    where = where or _at(p, what)
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if nesting_depth(line) > MAX_DEPTH:
            raise FileFormatError(p, f"{where} line {n}: nested more than {MAX_DEPTH} levels deep")
        try:
            out.append((n, json.loads(line, parse_constant=_no_constant)))
        except json.JSONDecodeError as err:
            raise FileFormatError(p, f"{where} line {n}: not valid JSON ({err.msg})") from None
        except ValueError as err:
            raise FileFormatError(p, f"{where} line {n}: {err}") from None
    return out


# ---- schemas -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One key of a mapping: its accepted types, whether it must be present, and an extra check returning an
    error text (what was expected) or None."""

    types: tuple
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    expected: str | None = None  # how to word the types ("a positive integer"); default from ``types``

    def describe(self) -> str:
        if self.expected:
            return self.expected
        names = [("null" if t is type(None) else _type_name(t()) if t in (bool, int, float, str, list, dict)
                  else t.__name__) for t in self.types]
        return " or ".join(f"a {n}" if n not in ("null", "integer", "object") else
                           ("an " + n if n != "null" else n) for n in names)


def _type_ok(value, types: tuple) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def check(data, schema: dict[str, Field], path, what: str = "file", prefix: str = "",
          allow_unknown: bool = True, quote: bool = True) -> dict:
    """``data`` must be a mapping fitting ``schema``; returns it. One FileFormatError for the first problem."""
    p = Path(path) if path is not None else None
    at = _at(p, what, quote) if p is not None else what
    if not isinstance(data, dict):
        where = f"{at}: {prefix.rstrip('.')}" if prefix else at
        raise FileFormatError(p, f"{where} must be an object of keys, got {_type_name(data)}")
    if not allow_unknown:
        unknown = sorted(str(k) for k in set(data) - set(schema))
        if unknown:
            raise FileFormatError(p, f"{at}: unknown field(s) {', '.join(prefix + k for k in unknown)}; "
                                     f"known: {', '.join(sorted(schema))}")
    for key, field in schema.items():
        if key not in data:
            if field.required:
                raise FileFormatError(p, f"{at}: field '{prefix}{key}' is missing; expected {field.describe()}")
            continue
        value = data[key]
        if not _type_ok(value, field.types):
            raise FileFormatError(p, f"{at}: field '{prefix}{key}' must be {field.describe()}, got "
                                     f"{_type_name(value)} {_short(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise FileFormatError(p, f"{at}: field '{prefix}{key}' must be a finite number, got {value}")
        if field.check is not None:
            problem = field.check(value)
            if problem:
                raise FileFormatError(p, f"{at}: field '{prefix}{key}' {problem}, got {_short(value)}")
    return data


# Reusable fields.
def positive_int(required: bool = True) -> Field:
    return Field((int,), required, lambda v: None if v >= 1 else "must be at least 1", "a positive integer")


def text(required: bool = True, non_empty: bool = False) -> Field:
    return Field((str,), required, (lambda v: None if v.strip() else "must not be empty") if non_empty else None,
                 "a non-empty string" if non_empty else "a string")


def optional(types: tuple, expected: str | None = None) -> Field:
    return Field((*types, type(None)), False, None, expected)


def one_of(choices) -> Callable[[Any], str | None]:
    """A Field check: the value is one of ``choices``."""
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


def list_of(item_type, required: bool = False) -> Field:
    name = _type_name(item_type())
    return Field((list,), required, lambda v: None if all(_type_ok(x, (item_type,)) for x in v)
                 else f"must hold only {name}s", f"a list of {name}s")
