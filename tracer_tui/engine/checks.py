"""Refuse prompts the model can't meaningfully trace, with a message saying what is wrong."""

from __future__ import annotations

import unicodedata

from ..core.errors import TracerError


def check_prompt(prompt):
    """Text prompts must be non-empty, printable UTF-8; a list of token ids must be non-empty."""
    if isinstance(prompt, (list, tuple)):
        if not prompt:
            raise TracerError("empty prompt: no token ids given")
        return prompt
    if not isinstance(prompt, str):
        raise TracerError(f"prompt must be text or a list of token ids, got {type(prompt).__name__}")
    if prompt == "":
        raise TracerError("empty prompt: type some text to trace")
    if not prompt.strip():
        raise TracerError("prompt is only whitespace: type some text to trace")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise TracerError("prompt contains bytes that are not valid UTF-8; re-encode it as UTF-8") from None
    for i, ch in enumerate(prompt):
        if ch not in "\n\t" and unicodedata.category(ch) == "Cc":
            raise TracerError(f"prompt contains control character U+{ord(ch):04X} at index {i}; remove it")
    return prompt


def check_length(n_tokens: int, n_ctx: int) -> None:
    if n_tokens > n_ctx:
        raise TracerError(f"prompt is {n_tokens} tokens, longer than the model's context of {n_ctx}; shorten it")


def check_top_k(top_k, min_attr=0.0) -> None:
    if top_k is None or int(top_k) < 1:
        raise TracerError(f"top-K must be a positive number of nodes, got {top_k}")
    if min_attr is None or float(min_attr) < 0:
        raise TracerError(f"minimum |attribution| must be >= 0, got {min_attr}")
