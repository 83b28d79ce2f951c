"""The tools researchers reach for, as app actions (mixed into ``TracerApp``): the `/` filter, hidden dense
latents, a level's sort, copying a node id, pins, notes, group and mean ablations, jumping between the rows of a
node reached by several paths, and the settings remembered between runs (``settings.py``).

Every key is in ``bindings.py``; state changes go through the app's ``set_state`` like everything else.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from ..core.nodes import TARGET, NodeId
from . import format as fmt
from . import tree_filter
from .messages import GroupFailed, GroupResolved
from .screens.ask import AskScreen
from .settings import load_settings, save_settings


class ResearchActions:
    """Needs the app's ``ex``, ``set_state``, ``tree``, ``status``, ``trace_gen``, ``live_trace`` and
    ``_apply_ablations``."""

    # ---- settings remembered between runs ----------------------------------------------------------------
    def load_remembered(self) -> None:
        self.settings, warning = load_settings()
        if warning:
            self.notes.append(warning)
        self.mean_mode = self.settings.mean_mode
        self.latent_means = None  # each latent's mean activation, computed by the first mean ablation
        self.group_what: tuple[int | None, str] = (None, "")  # (ablate_gen, words) of the last group ablation
        self.settings_warned = False  # a settings file that cannot be written is said once a run

    def remember(self, **changes) -> None:
        """Change remembered settings and write them (a config folder we cannot write is one warning)."""
        new = self.settings.with_(**changes)
        if new != self.settings:
            self.settings = new
            warning = save_settings(new)
            if warning and not self.settings_warned:  # once a run; after the action's own message, not under it
                self.settings_warned = True
                self.call_after_refresh(self.status.error, warning)

    def remember_theme(self, name: str) -> None:
        """A theme the user picked (not the one the app started in) is the next run's."""
        if name != (self.settings.theme or self._initial_theme):
            self.remember(theme=name)

    # ---- the tree's rows: filter, hidden dense latents, sort ------------------------------------------------
    def _rebuild_keeping_cursor(self, ex) -> None:
        row = self.tree.row
        key, parent = (row.key, row.parent) if row is not None else (None, TARGET)
        if ex.trace is None:
            self.set_state(ex)
            return
        self.set_state(ex, rebuild=True)
        self.tree.select_key(key, parent)

    def action_filter_tree(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.set_filter(text.strip())

        self.push_screen(AskScreen("Filter the tree: label, token or site text, L2 (layer), @5 (position), #123 "
                                   "(latent); empty shows all:", self.ex.filter, "paris"), done)

    def set_filter(self, text: str) -> None:
        if self.ex.trace is None:
            self.status.error("nothing to filter yet: trace a prompt first")
            return
        self._rebuild_keeping_cursor(self.ex.with_(filter=text))
        if text:
            shown, total = tree_filter.counts(self.ex.trace, self.tree.shown_keys())
            self.status.info(f"filter: {text} · {shown} of {total} rows (Esc clears)")
        else:
            self.status.info("filter cleared")

    def clear_filter(self) -> bool:
        """Esc: drop the filter (True when there was one)."""
        if not self.ex.filter:
            return False
        self.set_filter("")
        return True

    def action_toggle_hide_dense(self) -> None:
        hide = not self.tree.hide_dense
        self.tree.hide_dense = hide
        self.remember(hide_dense=hide)
        self._rebuild_keeping_cursor(self.ex)
        self.status.info(f"dense latents hidden (> {100 * self.dense_threshold:g}% of tokens; D shows them)" if hide
                         else "dense latents shown")

    def _level(self) -> str | None:
        """The level (parent key) of the highlighted row; the root row stands for the target's level."""
        row = self.tree.row
        if self.ex.trace is None or row is None or row.kind not in ("root", "node", "more", "level"):
            self.status.error("highlight a row of a level first")
            return None
        return TARGET if row.kind == "root" else row.parent

    @staticmethod
    def _level_name(parent: str) -> str:
        return "the target's level" if parent == TARGET else f"the level under {fmt.node_name(NodeId.parse(parent))}"

    def action_sort_level(self) -> None:
        """Cycle the highlighted level's order: |estimate| → actual Δ → position (``tree_filter.SORTS``)."""
        parent = self._level()
        if parent is None:
            return
        mode = tree_filter.next_sort(self.tree.sort_of(parent))
        skipped = ""
        if mode == "actual" and parent not in self.ex.verify:
            mode, skipped = tree_filter.next_sort(mode), " (no actual Δ yet: v verifies the level)"
        self.tree.default_sort = mode  # new levels open in the order picked last
        self.remember(sort=mode)
        self._rebuild_keeping_cursor(self.ex.with_(sort={**self.ex.sort, parent: mode}))
        self.status.info(f"{self._level_name(parent)} sorted by {tree_filter.SORT_WORDS[mode]}{skipped}")

    # ---- copy, pins, notes, occurrences ---------------------------------------------------------------------
    def _node_row(self):
        row = self.tree.row
        if self.ex.trace is None or row is None or row.kind != "node":
            self.status.error("highlight a node in the tree first")
            return None
        return row

    def action_copy_node(self) -> None:
        row = self._node_row()
        if row is None:
            return
        key = row.key
        self.copy_to_clipboard(key)  # OSC 52: the terminal sets its clipboard, also over SSH and tmux
        self.status.info(f"copied {key} (through the terminal's OSC 52 clipboard)")

    def action_toggle_pin(self) -> None:
        row = self._node_row()
        if row is None:
            return
        key, pins = row.key, self.ex.pins
        pinned = key not in pins
        self.set_state(self.ex.with_(pins=pins + (key,) if pinned else tuple(p for p in pins if p != key)))
        self.tree.refresh_rows()
        self.status.info(f"pinned {key} ⚑ (J jumps between pins)" if pinned else f"unpinned {key}")
        self.autosave()

    def action_next_pin(self) -> None:
        if not self.ex.pins:
            self.status.info("no pinned nodes: P pins the highlighted one")
            return
        rows = [r for r in self.tree.all_rows() if r.data.key in self.ex.pins]
        target = self.tree.jump_to(rows)
        if target is None:
            self.status.info(f"{len(self.ex.pins)} pinned node(s), none in the tree as filtered (Esc clears)")
            return
        self.status.info(f"pin {rows.index(target) + 1} of {len(rows)}: {target.data.key}")

    def action_next_occurrence(self) -> None:
        row = self._node_row()
        if row is None:
            return
        parents = self.tree.parents_of(row.key)
        rows = self.tree.occurrences(row.key)
        if len(rows) < 2:
            self.status.info(f"{row.key} appears once in the tree" + (
                f" (it is in {len(parents)} loaded levels; the others are hidden or not open)" if len(parents) > 1
                else ""))
            return
        target = self.tree.jump_to(rows)
        where = "the target" if target.data.parent == TARGET else fmt.node_name(NodeId.parse(target.data.parent))
        self.status.info(f"{row.key}: occurrence {rows.index(target) + 1} of {len(rows)}, under {where}")

    def action_edit_note(self) -> None:
        row = self._node_row()
        if row is None:
            return
        key = row.key

        def done(text: str | None) -> None:
            if text is None:
                return
            notes = {k: v for k, v in self.ex.notes.items() if k != key}
            if text.strip():
                notes[key] = text.strip()
            self.set_state(self.ex.with_(notes=notes))
            self.status.info(f"note on {key} saved" if text.strip() else f"note on {key} removed")
            self.autosave()

        self.push_screen(AskScreen(f"Note on {fmt.node_name(row.node.id)} (empty removes it):",
                                   self.ex.notes.get(key, ""), "what this latent seems to do"), done)

    def with_note(self, renderable, key: str):
        """The details pane's content plus the node's note, if it has one, and whether M moved it to its mean."""
        extra = []
        if self.ex.is_mean(key):
            extra.append(Text.assemble(("mean mode   ", "dim"), "μ: ablated to its mean activation"))
        note = self.ex.notes.get(key)
        if note:
            extra.append(Text.assemble(("note        ", "dim"), (note, "italic")))
        return Group(renderable, *extra) if extra else renderable

    def kept_marks(self, request) -> dict:
        """Pins and notes carried over to a new trace of the same prompt (node ids mean the same there)."""
        same = request.prompt == self.ex.request.prompt
        return {"pins": self.ex.pins, "notes": self.ex.notes} if same else {}

    # ---- group and mean ablations ---------------------------------------------------------------------------
    def action_toggle_mean_mode(self) -> None:
        self.mean_mode = not self.mean_mode
        self.remember(mean_mode=self.mean_mode)
        self.status.info("mean mode: a, A and E move latents to their mean activation (est Δ = (mean − a)·grad)"
                         if self.mean_mode else "zero mode: a, A and E zero-ablate")

    def ablate_group(self, what: str, ids: list[str] | None = None, everywhere: str | None = None) -> None:
        """Resolve the group (and the scales, in mean mode) in a job; ``on_group_resolved`` applies it."""
        if not self.mean_mode and everywhere is None:
            self.on_group_resolved(GroupResolved(self.trace_gen, what, {k: 0.0 for k in ids}))
            return
        self.status.busy(f"ablating {what}{' to the mean' if self.mean_mode else ''}…", None)
        self.group_job(self.trace_gen, self.live_trace, what, ids, everywhere, self.mean_mode, self.latent_means)

    def action_ablate_level(self) -> None:
        """A: the level's verified rows (its top k by the estimate), else every row it shows."""
        parent = self._level()
        if parent is None:
            return
        v = self.ex.verify.get(parent)
        if v is not None and v.pairs:
            ids, which = [str(p.id) for p in v.pairs], "verified"
        else:
            shown = self.tree.shown_keys()
            ids = [str(n.id) for n in self.ex.trace.children.get(parent, ()) if shown is None or str(n.id) in shown]
            which = "shown"
        left_out = ""
        if self.mean_mode:  # an error node has no mean activation: mean mode moves the latents only
            latents = [k for k in ids if not NodeId.parse(k).is_error]
            left_out = f", {len(ids) - len(latents)} error node(s) left out" if len(latents) < len(ids) else ""
            ids = latents
        if not ids:
            self.status.error(f"{self._level_name(parent)} has no rows to ablate" + (" to a mean" if self.mean_mode else ""))
            return
        name = "the target" if parent == TARGET else fmt.node_name(NodeId.parse(parent))
        self.ablate_group(f"the top {len(ids)} of {name} (the {which} rows{left_out})", ids=ids)

    def action_ablate_everywhere(self) -> None:
        row = self._node_row()
        if row is None:
            return
        if row.node.id.is_error:
            self.status.error("an error node is not a latent: E ablates a latent at every position")
            return
        nid = row.node.id
        self.ablate_group(f"{fmt.site(nid.site)}:{nid.latent} at {{n}} active position(s)", everywhere=row.key)

    def on_group_resolved(self, msg: GroupResolved) -> None:
        if msg.gen != self.trace_gen:
            return
        if msg.means is not None:
            self.latent_means = msg.means
        ablations = dict(self.ex.ablations)
        msg.what = msg.what.replace("{n}", str(len(msg.scales)))  # E: how many positions it was active at
        if msg.scales and all(k in ablations for k in msg.scales):  # the same key again: undo the group
            for k in msg.scales:
                del ablations[k]
            what = f"removed {msg.what}"
        else:
            ablations.update(msg.scales)
            mean = any(s != 0 for s in msg.scales.values())
            if mean:
                self.set_state(self.ex.with_(mean_scales={**self.ex.mean_scales, **msg.scales}))
            what = msg.what + (" → mean" if mean else "")
        self.status.info(what)
        self._apply_ablations(ablations)
        self.group_what = (self.ablate_gen, what)

    def group_note(self, ablate_gen: int) -> str:
        """' · <what the group was>' for the status line of the group's ablation result ('' for any other)."""
        gen, what = self.group_what
        return f" · {what}" if gen == ablate_gen else ""

    def on_group_failed(self, msg: GroupFailed) -> None:
        if msg.gen == self.trace_gen:
            self.status.error(msg.text)
