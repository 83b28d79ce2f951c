"""L: the message history, newest last, each message in full (the status line cuts long ones to its width)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...core import paths


class MessagesScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,L", "dismiss", "Close", id="tracer.messages-close"),
                Binding("j,down", "scroll(1)", "Down", show=False, id="tracer.messages-down"),
                Binding("k,up", "scroll(-1)", "Up", show=False, id="tracer.messages-up")]

    def __init__(self, entries):
        super().__init__()
        self.entries = list(entries)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="messages-box"):
            yield Static(Text.assemble(("Messages", "bold"), (f"  newest last · Esc closes · also in {paths.log_file()}",
                                                              "dim")))
            if not self.entries:
                yield Static(Text("no messages yet", style="dim italic"))
            for e in self.entries:
                line = Text.assemble((time.strftime("%H:%M:%S ", time.localtime(e.when)), "dim"))
                line.append(e.text, "bold red" if e.error else "")
                yield Static(line, classes="message-entry")

    def on_mount(self) -> None:
        self.query_one("#messages-box").scroll_end(animate=False)

    def action_scroll(self, step: int) -> None:
        box = self.query_one("#messages-box", VerticalScroll)
        box.scroll_relative(y=step, animate=False)
