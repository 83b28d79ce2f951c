"""The status line: a progress bar while work runs, the latest message (errors in red), and key hints."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

HINTS = "? help · ^p commands"


class StatusLine(Horizontal):
    last = ""
    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="progress")
        yield Static("", id="message")
        yield Static(HINTS, id="hints")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def busy(self, text: str, frac: float | None = None) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = True
        if frac is None:
            bar.update(total=None)
        else:
            bar.update(total=1.0, progress=max(0.0, min(1.0, frac)))
        self._set(text, "")

    def info(self, text: str) -> None:
        self.query_one(ProgressBar).display = False
        self._set(text, "")

    def error(self, text: str) -> None:
        self.query_one(ProgressBar).display = False
        self._set(text, "error")

    def _set(self, text: str, style: str) -> None:
        self.last = text
        msg = self.query_one("#message", Static)
        msg.set_class(bool(style), "error")
        msg.update(Text(text))
        msg.tooltip = text

