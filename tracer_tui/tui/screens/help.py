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


LEGEND = [
    ("attr  █  %", "attribution A of the row to its parent (+ supports it, − works against it), a bar relative to "
     "the level's largest, and the row's share of the level's total |A|"),
    ("est Δ  act Δ", "on a verified level: the estimated change of the parent's metric when the row is removed "
     "(−A) and the actual change, measured by re-running the model without it (real single ablation)"),
    ("≠", "the actual Δ has the other sign than the estimate: the tree gets this row's direction wrong"),
    ("ρ · signs", "in a level's header: Spearman ρ between estimated and actual Δ over the verified rows (1 = "
     "ranked right), and how many of them have the sign the estimate says"),
    ("↓", "in a level's header: the column the level is ordered by (f switches between est Δ and act Δ)"),
    ("dense", "the latent fires on more than 10% of tokens: likely not one concept (details pane: its density)"),
    ("⊘ ×2", "zero-ablated / scaled latent"),
    ("a=", "the latent's activation (error nodes: the norm of what the SAE misses)"),
]


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
    table.add_row("[bold]tree columns[/]", "", "")
    for what, meaning in LEGEND:
        table.add_row(what, meaning, "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="tracer.help-close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static("[bold]tracer-tui keys[/]  (Esc closes; remap ids in keymap.toml)")
            yield Static(help_table(getattr(self.app, "keymap", {})))
