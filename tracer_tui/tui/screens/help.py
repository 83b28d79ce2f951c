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
    ("ρ  signs", "in a level's header: Spearman ρ between estimated and actual Δ over the verified rows (1 = "
     "ranked right), and how many of them have the sign the estimate says"),
    ("↓", "in a level's header: the column the level is ordered by (f cycles est Δ, act Δ, position ↓pos)"),
    ("⚑  ⋔2", "a pinned node (P; J jumps between pins) / a node reached by 2 paths (O jumps between its rows)"),
    ("dense", "the latent fires on more than 10% of tokens: likely not one concept (details pane: its density)"),
    ("to …", "in a level's header: what its attributions are to: the target (the root's level) or the parent "
     "latent (deeper levels)"),
    ("tgt", "below the root: the row's attribution to the target, when it differs from the one to its parent "
     "(the root's Δ estimate uses this one)"),
    ("⊘ ×2 μ", "zero-ablated / scaled latent / moved to its mean activation (M)"),
    ("inactive", "an ablated latent that the other ablations already switch off: its own scale changes nothing"),
    ("a=", "the latent's activation (error nodes: the norm of what the SAE misses)"),
]


def help_table(keymap: dict[str, str], ids: bool = True) -> Table:
    """Every key, then what the tree's columns mean. ``ids``: a column with each binding's id (for keymap.toml);
    left out on a narrow screen, where it would squeeze the explanations to a few letters a line."""
    table = Table(box=None, expand=True, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("key", no_wrap=True)
    table.add_column("what it does", ratio=1)
    if ids:
        table.add_column("id", style="dim", no_wrap=True)

    def row(key: str, what: str, binding: str = "") -> None:
        table.add_row(key, what, binding) if ids else table.add_row(key, what)

    scope = None
    for k in KEYS:
        if k.scope != scope:
            scope = k.scope
            row("", f"[bold]{SCOPES[scope]}[/]")
        keys = keymap.get(f"tracer.{k.id}", k.keys)
        row(display_keys(keys), k.help, f"tracer.{k.id}")
    row("", "[bold]always[/]")
    row("Enter (prompt)", "trace the model's top prediction at the last position")
    row("Tab / shift+Tab", "move between prompt, tokens, predictions, tree and details pane (the focused one is "
        "tinted; 'type ›' on the prompt line: letters go into the prompt)")
    row("↑ ↓ PgUp PgDn", "in the details pane (Tab to it): scroll; Home / End: its top and bottom")
    row("ctrl+p", "command palette: every action, themes, exports, sample prompts")
    row("ctrl+q", "quit")
    row("", "[bold]tree columns[/]")
    for what, meaning in LEGEND:
        row(what, meaning)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="tracer.help-close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            wide = self.app.size.width >= 110
            yield Static("[bold]tracer-tui keys[/]  (Esc closes; remap ids in keymap.toml"
                         + ("" if wide else ": shown on a terminal 110 columns wide") + ")")
            yield Static(help_table(getattr(self.app, "keymap", {}), ids=wide))
