"""A list to choose from (sample prompts, active ablations): returns the chosen id, or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class PickerScreen(ModalScreen[str | None]):
    """``items``: (id, label). With ``on_delete``, d/Delete removes the highlighted item via that callback."""

    BINDINGS = [
        Binding("escape,q", "cancel", "Close", id="tracer.picker-close"),
        Binding("j", "down", "Down", show=False, id="tracer.picker-down"),
        Binding("k", "up", "Up", show=False, id="tracer.picker-up"),
        Binding("d,delete", "delete", "Remove", id="tracer.picker-delete"),
    ]

    def __init__(self, title: str, items: list[tuple[str, object]], hint: str = "", on_delete=None):
        super().__init__()
        self.title_text, self.items, self.hint, self.on_delete = title, items, hint, on_delete

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static(f"[bold]{self.title_text}[/]")
            yield OptionList(*[Option(label, id=item_id) for item_id, label in self.items], id="picker-list")
            yield Static(self.hint or "Enter chooses · Esc closes", classes="dim")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()

    def action_delete(self) -> None:
        lst = self.query_one(OptionList)
        if self.on_delete is None or lst.highlighted is None:
            return
        option = lst.get_option_at_index(lst.highlighted)
        self.on_delete(option.id)
        lst.remove_option(option.id)
        if lst.option_count == 0:
            self.dismiss(None)
