"""The status line: a progress bar while work runs, the latest message (errors in red), and key hints.

Every message also goes to the message history (``L`` shows it in full) and to the debug log, so a message cut
to the width of an 80-column terminal is never lost. Messages put their numbers first, so a cut one still shows
them; the cut is marked with an ellipsis and the hints then name ``L``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

HINTS = "? help · ^p commands"
HISTORY = 200  # messages kept for the history screen

log = logging.getLogger("tracer_tui.tui")


@dataclass(frozen=True)
class Entry:
    when: float  # time.time()
    text: str
    error: bool


class StatusLine(Horizontal):
    last = ""
    hints = HINTS  # the key hints on the right (a screen may name its own)

    @property
    def history(self) -> deque[Entry]:
        """One history for the app: the main screen's status line and the contrast screen's share it."""
        history = getattr(self.app, "message_history", None)
        if history is None:
            history = self.app.message_history = deque(maxlen=HISTORY)
        return history

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1.0, show_eta=False, show_percentage=False, id="progress")
        yield Static("", id="message")
        yield Static(self.hints, id="hints")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def busy(self, text: str, frac: float | None = None) -> None:
        bar = self.query_one(ProgressBar)
        bar.display = True
        if frac is None:
            bar.update(total=None)
        else:
            bar.update(total=1.0, progress=max(0.0, min(1.0, frac)))
        self._set(text, "", record=False)  # progress steps are not history; their outcome is

    def info(self, text: str) -> None:
        self.query_one(ProgressBar).display = False
        self._set(text, "")

    def error(self, text: str) -> None:
        self.query_one(ProgressBar).display = False
        self._set(text, "error")

    def _set(self, text: str, style: str, record: bool = True) -> None:
        self.last = text
        if record and (not self.history or self.history[-1].text != text):
            self.history.append(Entry(time.time(), text, bool(style)))
            log.log(logging.WARNING if style else logging.INFO, "status: %s", text)
        msg = self.query_one("#message", Static)
        msg.set_class(bool(style), "error")
        msg.update(Text(" ".join(text.split()), no_wrap=True, overflow="ellipsis", end=""))
        msg.tooltip = text
        self.call_after_refresh(self._fit_hints)

    def on_resize(self) -> None:
        self._fit_hints()

    def _fit_hints(self) -> None:
        """The hints give way to a long message; a message that is still cut names the key for its full text."""
        if not self.is_attached:
            return
        bar = self.query_one(ProgressBar)
        room = self.size.width - 2 - (bar.outer_size.width if bar.display else 0)
        need = cell_len(" ".join(self.last.split()))
        hints = self.query_one("#hints", Static)
        if need + len(self.hints) + 2 <= room:
            hints.update(self.hints)
        elif need <= room:
            hints.update("")
        else:
            hints.update("L: in full")
        hints.display = need + len(self.hints) + 2 <= room or need > room
