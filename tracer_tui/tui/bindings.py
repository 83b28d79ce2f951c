"""Every key binding in one table: the widgets' BINDINGS, the help screen and the command palette read it.

Each binding has an id (``tracer.<name>``) so users can remap it with a keymap file or ``App.set_keymap``.
Keys are letters, digits, arrows and F-keys only: they all survive SSH and tmux.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    scope: str  # "app", "tree", "tokens", "predictions", "contrast"
    keys: str
    action: str
    description: str  # footer text
    help: str  # one line for the help screen and the command palette
    id: str
    show: bool = False
    palette: bool = True  # also listed as a command in the palette


KEYS: list[Key] = [
    Key("app", "f1,question_mark", "help", "Help", "show every key with what it does", "help", True),
    Key("app", "escape", "cancel", "Cancel", "cancel the running trace or job", "cancel"),
    Key("app", "i", "edit_prompt", "Prompt", "edit the prompt (Enter traces the top prediction)",
        "edit-prompt"),
    Key("app", "t", "pick_position", "Position", "pick a position in the token strip (target = its next token)",
        "pick-position"),
    Key("app", "p", "pick_prediction", "Predictions", "pick one of the top-k predictions as the target",
        "pick-prediction"),
    Key("app", "g", "custom_target", "Target", "type a custom target token", "custom-target"),
    Key("app", "m", "cycle_metric", "Metric", "switch metric: logprob → logit → logit-diff → logit-mean (the default) → …",
        "metric", True),
    Key("app", "x", "set_foil", "Foil", "set the foil token for logit-diff (this key was called 'Contrast')",
        "foil"),
    Key("app", "r", "retrace", "Retrace", "trace the current request again (drops expansions and ablations)",
        "retrace"),
    Key("app", "a", "toggle_ablation", "Ablate", "zero-ablate the highlighted latent (again: undo)", "ablate", True),
    Key("app", "s", "scale_ablation", "Scale", "scale the highlighted latent by a factor (2, 0.5, -1, ...)",
        "scale", True),
    Key("app", "c", "clear_ablations", "Clear", "clear all ablations", "clear-ablations", True),
    Key("app", "b", "show_ablations", "Ablations", "list active ablations (remove one with d)", "ablation-list"),
    Key("app", "v", "verify", "Verify",
        "verify the highlighted level with more rows (real single ablations: estimated vs actual Δ)", "verify", True),
    Key("app", "f", "sort_level", "Sort", "order the highlighted level by |estimate| → actual Δ → position → … "
        "(remembered)", "sort-level"),
    # Research tools (tui/research.py): filter, copy, pins, notes, group and mean ablation, DAG occurrences.
    Key("app", "slash", "filter_tree", "Filter", "filter the tree: label, token, site, L2 (layer), @5 (position), "
        "#123 (latent); Esc clears", "filter"),
    Key("app", "D", "toggle_hide_dense", "Hide dense", "hide or show dense latents (remembered)", "hide-dense"),
    Key("app", "y", "copy_node", "Copy id", "copy the highlighted node id (OSC 52 clipboard: works over SSH)",
        "copy-id"),
    Key("app", "P", "toggle_pin", "Pin", "pin or unpin the highlighted node ⚑ (saved in the session)", "pin"),
    Key("app", "J", "next_pin", "Next pin", "jump to the next pinned node", "next-pin"),
    Key("app", "N", "edit_note", "Note", "write a note on the highlighted node (details pane; saved)", "note"),
    Key("app", "O", "next_occurrence", "Occurrences", "jump to the node's next occurrence (⋔N: reached by N paths)",
        "next-occurrence"),
    Key("app", "A", "ablate_level", "Ablate top k", "ablate the level's top rows together: its verified rows, "
        "else all shown (again: undo)", "ablate-level"),
    Key("app", "E", "ablate_everywhere", "Ablate everywhere", "ablate the highlighted latent at every position "
        "where it is active (again: undo)", "ablate-everywhere"),
    Key("app", "M", "toggle_mean_mode", "Mean mode", "a, A and E ablate to the latent's mean activation, not 0 "
        "(remembered)", "mean-mode"),
    Key("app", "w", "auto_verify", "Auto-verify", "how many rows of each new level to verify by real ablation "
        "(0 = off; saved in the session)", "auto-verify"),
    Key("app", "u", "toggle_upstream", "Upstream", "children from the nearest upstream level, or from all upstream "
        "sites pooled (traces again; saved in the session)", "upstream"),
    Key("app", "n", "contrast_screen", "Contrast mode",
        "contrast screen: sample completions, label them, rank latents by Δ-attribution, steer", "contrast-screen"),
    Key("app", "o", "samples", "Samples", "open a sample prompt (with its suggested target)", "samples", True),
    Key("app", "e", "export", "Export", "export the explored graph (.json node-link or .graphml)", "export"),
    Key("app", "L", "messages", "Messages", "message history: every status message in full, newest last",
        "messages"),
    Key("app", "d", "toggle_details", "Details", "show or hide the details pane", "toggle-details"),
    Key("app", "q", "quit", "Quit", "save the session and quit", "quit", True),
    Key("tree", "right,l", "expand", "Expand", "expand the latent (its upstream drivers), or step into it",
        "tree-expand", palette=False),
    Key("tree", "enter", "toggle", "Open/close", "expand or collapse; on '… N more' load the next page",
        "tree-toggle", palette=False),
    Key("tree", "left,h", "parent", "Parent", "go to the parent node", "tree-parent", palette=False),
    Key("tree", "down,j", "cursor_down", "Down", "next row", "tree-down", palette=False),
    Key("tree", "up,k", "cursor_up", "Up", "previous row", "tree-up", palette=False),
    Key("tree", "space", "app.toggle_ablation", "Ablate", "same as a: toggle zero-ablation", "tree-ablate",
        palette=False),
    Key("tokens", "left,h", "move(-1)", "Left", "previous token", "tokens-left", palette=False),
    Key("tokens", "right,l", "move(1)", "Right", "next token", "tokens-right", palette=False),
    Key("tokens", "home", "move_to(0)", "First", "first token", "tokens-home", palette=False),
    Key("tokens", "end", "move_to(-1)", "Last", "last token", "tokens-end", palette=False),
    Key("tokens", "enter", "choose", "Trace here", "trace the prompt's next token after the cursor position",
        "tokens-trace", palette=False),
    Key("predictions", "down,j", "cursor_down", "Down", "next prediction", "predictions-down", palette=False),
    Key("predictions", "up,k", "cursor_up", "Up", "previous prediction", "predictions-up", palette=False),
    Key("predictions", "enter", "select", "Trace it", "trace the highlighted prediction as the target",
        "predictions-trace", palette=False),
    Key("contrast", "s", "sample", "Sample", "sample N completions of the prompt and rank latents (new seed each time)",
        "contrast-sample", True),
    Key("contrast", "r", "edit_rule", "Rule", "edit the undesired rule (regex); relabels every completion",
        "contrast-rule", True),
    Key("contrast", "u", "mark(True)", "Undesired", "mark the highlighted completion undesired ✗", "contrast-undesired",
        True),
    Key("contrast", "d", "mark(False)", "Desired", "mark the highlighted completion desired ✓", "contrast-desired", True),
    Key("contrast", "space", "cycle_label", "Toggle", "cycle the highlighted completion's label ✗ → ✓ → ·",
        "contrast-toggle"),
    Key("contrast", "m", "toggle_mode", "Mode", "switch zero / mean ablation mode (recomputes)", "contrast-mode", True),
    Key("contrast", "g", "steer(1)", "Steer", "steer the highlighted latent (+α): steered vs unsteered vs random rate",
        "contrast-steer", True),
    Key("contrast", "minus", "steer(-1)", "Steer −α", "steer the highlighted latent with negative α",
        "contrast-steer-negative"),
    Key("contrast", "a", "strength", "Strength", "set the steering strength α: a multiple of typical activation "
        "(4x) or an absolute value", "contrast-strength"),
    Key("contrast", "c", "sizes", "Sizes", "set sample counts, tokens, temperature, seed, top-K and random latents",
        "contrast-sizes"),
    Key("contrast", "p", "add_completion", "Add", "add a completion by hand (type or paste), or @FILE to load some",
        "contrast-add"),
    Key("contrast", "o", "open", "Open", "open the latent in the tree where it matters most for the highlighted completion",
        "contrast-open", True),
    Key("contrast", "down,j", "cursor(1)", "Down", "next row of the focused table (Tab switches table)",
        "contrast-down"),
    Key("contrast", "up,k", "cursor(-1)", "Up", "previous row of the focused table", "contrast-up"),
    Key("contrast", "L", "messages", "Messages", "message history: every status message in full", "contrast-messages"),
    Key("contrast", "f1,question_mark", "help", "Help", "show every key", "contrast-help"),
    Key("contrast", "escape,q", "close", "Close", "cancel the running job; if none, close the screen",
        "contrast-close", True),
]


def bindings(scope: str) -> list:
    from textual.binding import Binding

    return [Binding(k.keys, k.action, k.description, show=k.show, id=f"tracer.{k.id}", tooltip=k.help)
            for k in KEYS if k.scope == scope]


def display_keys(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "Esc", "space": "Space", "enter": "Enter",
             "minus": "-", "right": "→", "left": "←", "up": "↑", "down": "↓", "home": "Home", "end": "End"}
    return " / ".join(names.get(k, k.upper() if k.startswith("f") and k[1:].isdigit() else k)
                      for k in keys.split(","))
