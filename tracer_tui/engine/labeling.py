"""Completions and their labels: undesired (True), desired (False) or unlabelled (None).

A rule labels all completions at once: a regex (searched, case-insensitive) or a comma-separated keyword list
(case-insensitive substrings; any one present marks the completion undesired). Hand labels override the rule.
Completions can also come from a file: one JSON object per line ``{"completion": ..., "undesired": true|false|null}``,
or plain text with completions separated by lines holding only ``---``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..core.errors import Hint, TracerError


@dataclass(frozen=True)
class Completion:
    """One completion of the prompt. ``ids`` are the sampled token ids (None when given as text only)."""

    text: str
    undesired: bool | None = None
    ids: tuple[int, ...] | None = None
    source: str = "sampled"  # "sampled", "given", "file"

    def to_json(self) -> dict:
        return {"text": self.text, "undesired": self.undesired, "source": self.source}


def unescape(text: str) -> str:
    """Typed text with \\n and \\t written out (a one-line input or a shell argument) -> the real characters."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


class Rule:
    """Labels a text undesired when the pattern is found in it."""

    def __init__(self, regex: str | None = None, keywords: str | list[str] | None = None):
        if regex is not None and keywords is not None:
            raise TracerError("give either a regex rule or keywords, not both")
        if regex is None and keywords is None:
            raise TracerError("no rule to label completions with: give a regex or keywords", Hint(("rule",)))
        if keywords is not None:
            words = keywords.split(",") if isinstance(keywords, str) else list(keywords)
            words = [w.strip() for w in words if w.strip()]
            if not words:
                raise TracerError(f"keyword list {keywords!r} is empty: give words separated by commas, e.g. idiot,reckless")
            self.description = "keywords: " + ", ".join(words)
            regex = "|".join(re.escape(w) for w in words)
        else:
            if not str(regex).strip():
                raise TracerError("empty rule regex: give a pattern such as '(?i)who cares|idiot'")
            self.description = f"regex: {regex}"
        try:
            self.pattern = re.compile(regex, re.IGNORECASE)
        except re.error as err:
            raise TracerError(f"bad rule regex {regex!r}: {err}") from None
        self.source = regex

    def __call__(self, text: str) -> bool:
        return self.pattern.search(text) is not None


def make_rule(rule=None, keywords=None) -> Rule | None:
    """A Rule from a regex or keywords; an existing Rule or a callable passes through; None if neither."""
    if isinstance(rule, Rule) or (callable(rule) and not isinstance(rule, str)):
        return rule
    if rule is None and keywords is None:
        return None
    return Rule(rule, keywords)


def label(completions: list[Completion], rule=None, keywords=None, overrides: dict | None = None,
          keep_given: bool = True) -> list[Completion]:
    """Label every completion with the rule, then apply ``overrides`` {index: True/False/None}.

    With ``keep_given``, labels already present (from a file, or set by hand) win over the rule.
    """
    r = make_rule(rule, keywords)
    out = []
    for c in completions:
        if r is not None and not (keep_given and c.undesired is not None):
            c = replace(c, undesired=bool(r(c.text)))
        out.append(c)
    for i, value in (overrides or {}).items():
        i = int(i)
        if not -len(out) <= i < len(out):
            raise TracerError(f"label override for completion {i}: there are only {len(out)} completions")
        if value is not None and not isinstance(value, bool):
            raise TracerError(f"label for completion {i} must be true, false or null, got {value!r}")
        out[i] = replace(out[i], undesired=value)
    return out


def counts(completions: list[Completion]) -> dict[str, int]:
    u = sum(c.undesired is True for c in completions)
    d = sum(c.undesired is False for c in completions)
    return {"undesired": u, "desired": d, "unlabelled": len(completions) - u - d}


def as_completions(items) -> list[Completion]:
    """Strings, (text, label) pairs, dicts with "completion"/"text", or Completions -> Completions."""
    out = []
    for item in items:
        if isinstance(item, Completion):
            out.append(item)
        elif isinstance(item, str):
            out.append(Completion(item, None, source="given"))
        elif isinstance(item, dict):
            out.append(_from_dict(item, "completion"))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
            out.append(Completion(item[0], _label_value(item[1], "completion"), source="given"))
        else:
            raise TracerError(f"cannot use {item!r} as a completion: give text, (text, undesired) or a Completion")
    return out


def read_completions_file(path) -> list[Completion]:
    """JSON lines ({"completion", "undesired"}) or plain text separated by lines holding only ``---``."""
    from ..core.validation import expand_path, looks_like_jsonl, parse_jsonl, read_text

    p = expand_path(path, "completions file")
    text = read_text(p, "completions file")  # a UTF-8 BOM is dropped, so BOM + JSON lines is JSON lines
    if looks_like_jsonl(text):
        out = []
        for n, row in parse_jsonl(p, text, "completions file", where=p.name):
            if not isinstance(row, dict):
                raise TracerError(f"{p.name} line {n}: expected a JSON object "
                                  '{"completion": "...", "undesired": true|false|null}, got ' + type(row).__name__)
            out.append(replace(_from_dict(row, f"{p.name} line {n}"), source="file"))
    else:
        blocks, cur = [], []
        for line in text.splitlines():
            if line.strip() == "---":
                blocks.append("\n".join(cur))
                cur = []
            else:
                cur.append(line)
        blocks.append("\n".join(cur))
        out = [Completion(b.strip("\n"), None, source="file") for b in blocks if b.strip()]
    if not out:
        raise TracerError(f"completions file {str(path)!r} holds no completions")
    return out


def _from_dict(row: dict, where: str) -> Completion:
    text = row.get("completion", row.get("text"))
    if not isinstance(text, str):
        raise TracerError(f"{where}: needs a \"completion\" text field")
    unknown = set(row) - {"completion", "text", "undesired"}
    if unknown:
        raise TracerError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; use \"completion\" and \"undesired\"")
    return Completion(text, _label_value(row.get("undesired"), where), source="given")


def _label_value(value, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TracerError(f"{where}: \"undesired\" must be true, false or null, got {value!r}")
