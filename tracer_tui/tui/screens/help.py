"""F1 / ?: every key with a one-line explanation (current keys, after any user keymap)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..bindings import KEYS, display_keys

SCOPES = {"app": "anywhere (outside text boxes)", "tree": "latent tree", "tokens": "token strip",
          "predictions": "predictions list", "contrast": "contrast screen (n)"}


def help_table(keymap: dict[str, str]) -> Table:
    table = Table(box=None, expand=True, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("key", no_wrap=True)
    table.add_column("what it does", ratio=1)
    table.add_column("id", style="dim", no_wrap=True)
    scope = None
    for k in KEYS:
        if k.scope != scope:
            scope = k.scope
            table.add_row(f"[bold]{SCOPES[scope]}[/]", "", "")
        keys = keymap.get(f"tracer.{k.id}", k.keys)
        table.add_row(display_keys(keys), k.help, f"tracer.{k.id}")
    table.add_row("[bold]always[/]", "", "")
    table.add_row("Enter (prompt)", "trace the model's top prediction at the last position", "")
    table.add_row("Tab / shift+Tab", "move between prompt, tokens, predictions and tree", "")
    table.add_row("ctrl+p", "command palette: every action, themes, exports, sample prompts", "")
    table.add_row("ctrl+q", "quit", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="tracer.help-close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("[bold]tracer-tui keys[/]  (Esc closes; remap ids in keymap.toml)")
            yield Static(help_table(getattr(self.app, "keymap", {})))
