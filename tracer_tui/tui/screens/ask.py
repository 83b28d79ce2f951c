"""A one-line input dialog: returns the text, or None when cancelled with Esc. With ``check``, an answer it
rejects stays in the box with the reason under it, to fix rather than retype.

Idempotent: the first Enter or Esc answers and every later key (Enter pressed twice fast, Enter then Esc) is
ignored, so the dialog is dismissed exactly once (a second ``dismiss`` would pop a screen that is already gone:
``ScreenStackError: Can't pop screen``)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class AskScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="tracer.ask-cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "",
                 check: Callable[[str], str | None] | None = None):
        super().__init__()
        self.question, self.value, self.placeholder, self.check = question, value, placeholder, check
        self.answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Static(self.question)
            yield Input(value=self.value, placeholder=self.placeholder, id="ask-input")
            yield Static("", id="ask-error")
            yield Static("Enter accepts · Esc cancels", classes="dim")

    def on_mount(self) -> None:
        self.query_one("#ask-error").display = False
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.check(event.value) if self.check is not None and not self.answered else None
        if problem:
            error = self.query_one("#ask-error", Static)
            error.update(Text(problem, style="bold red"))
            error.display = True
            return
        self._answer(event.value)

    def action_cancel(self) -> None:
        self._answer(None)

    def _answer(self, value: str | None) -> None:
        if self.answered or not self.is_attached or self.app.screen is not self:
            return  # already answered (a repeated key), or no longer the top screen
        self.answered = True
        self.dismiss(value)
