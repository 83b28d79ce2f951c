"""One line showing how the prompt was tokenized, with a cursor that picks the traced position."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from .. import format as fmt
from ..bindings import bindings


class TokenStrip(Widget, can_focus=True):
    BINDINGS = bindings("tokens")

    tokens: reactive[list[str]] = reactive(list, always_update=True)
    cursor: reactive[int] = reactive(-1)
    traced: reactive[int] = reactive(-1)  # position of the current trace (-1: none)

    class PositionChosen(Message):
        def __init__(self, position: int, last: bool):
            super().__init__()
            self.position, self.last = position, last

    def set_tokens(self, tokens: list[str]) -> None:
        self.tokens = tokens
        if not 0 <= self.cursor < len(tokens):
            self.cursor = len(tokens) - 1

    def action_move(self, step: int) -> None:
        if self.tokens:
            self.cursor = max(0, min(len(self.tokens) - 1, self.cursor + step))

    def action_move_to(self, index: int) -> None:
        if self.tokens:
            self.cursor = index % len(self.tokens)

    def action_choose(self) -> None:
        if self.tokens:
            self.post_message(self.PositionChosen(self.cursor, self.cursor == len(self.tokens) - 1))

    def render(self) -> Text:
        if not self.tokens:
            return Text("tokens appear here once the model is loaded", style="dim italic")
        parts: list[tuple[str, str]] = []
        spans: list[tuple[int, int]] = []
        x = 0
        for i, tok in enumerate(self.tokens):
            text = fmt.strip_token(tok)
            style = "dim" if i % 2 else ""
            if i == self.traced:
                style = "bold underline"
            if i == self.cursor and self.has_focus:
                style = "reverse bold"
            elif i == self.cursor:
                style += " underline"
            parts.append((text, style))
            spans.append((x, x + len(text)))
            parts.append((" ", ""))
            x += len(text) + 1
        line = Text.assemble(*parts)
        # Keep the cursor's token on screen when the prompt is wider than the strip.
        width = max(1, self.size.width)
        start = 0
        if 0 <= self.cursor < len(spans) and spans[self.cursor][1] > width:
            start = spans[self.cursor][1] - width + 1
        return line[start:start + width] if start else line

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
