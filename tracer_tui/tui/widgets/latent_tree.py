"""The latent tree: root = the target, children = the nodes that drive it, expanded lazily.

Labels are drawn in ``render_label`` from each row's data and the app's ``model.Exploration`` (the trace
snapshot, ablations, verify results), which the app hands over with ``show_state``; the tree never reads a live
engine ``Trace``. A state change only needs ``refresh_rows()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode, UnknownNodeID

from ...core.defaults import DENSE_THRESHOLD
from ...core.nodes import TARGET, NodeId
from .. import format as fmt
from .. import tree_filter
from ..bindings import bindings



LABEL_ROOM = 12  # cells a row's label keeps before the row drops its activation, bar, token or share


@dataclass
class Row:
    kind: str  # "root", "node", "level" (a level's header: its columns and verify), "more", "loading", "note",
    # "filter" (what the `/` filter and hidden dense latents leave out)
    node: Any = None  # model.NodeRec for "node" rows
    parent: str = TARGET  # key of the level this row belongs to (snapshot.children key)
    text: str = ""
    loaded: int = 0  # "more" rows: rows already loaded at this level
    remaining: int = 0  # "more" rows: rows not loaded yet
    upstream: bool = True  # "node" rows: SAE sites exist before the node's own (else nothing to expand)

    @property
    def key(self) -> str | None:
        return str(self.node.id) if self.node is not None else (TARGET if self.kind == "root" else None)

    @property
    def expandable(self) -> bool:
        return self.kind == "node" and not self.node.id.is_error and self.upstream


class LatentTree(Tree[Row]):
    BINDINGS = bindings("tree")
    ICON_NODE = "▸ "
    ICON_NODE_EXPANDED = "▾ "

    class NothingUpstream(Message):
        """``l`` on a row that cannot expand (an error node, or a latent at the first SAE site)."""

        def __init__(self, node):
            super().__init__()
            self.node = node

    class ExpandRequested(Message):
        """Load children of ``key`` (a node id or "target") from ``offset``; rows go under ``tree_node``."""

        def __init__(self, tree_node: TreeNode, key: str, offset: int):
            super().__init__()
            self.tree_node, self.key, self.offset = tree_node, key, offset

    def __init__(self, exploration, **kwargs):
        super().__init__("no trace yet", data=Row("note", text="no trace yet"), **kwargs)
        self.auto_expand = False
        self.guide_depth = 3
        self.ex = exploration  # model.Exploration: replaced (never changed) by the app through show_state
        self.dense_threshold = DENSE_THRESHOLD  # the app sets the user's setting
        self.hide_dense = False  # the app sets the user's setting (D)
        self.default_sort = tree_filter.SORTS[0]  # a level's order until f picks another (the user's setting)
        self._shown: set[str] | None = None  # node ids that pass the filter (None: all), set on each rebuild
        self._parents: tuple = (None, {})  # (snapshot, node id -> levels it appears in), for the DAG mark
        self.colours = {"attr-positive": "#5fafff", "attr-negative": "#ff875f", "ablated": "#d787ff",
                        "sign-flip": "#d7af00"}
        self._largest: dict[tuple[str, int], float] = {}  # (level, rows loaded) -> largest |attribution|
        self._briefs: tuple = (None, None, {})  # (state, dense threshold, {(level, room, icon): form}): _level_brief

    # ---- building ---------------------------------------------------------------------------------
    def show_state(self, exploration) -> None:
        """The app's new state: labels are drawn from it from now on."""
        self.ex = exploration
        self.refresh_rows()

    def show_message(self, text: str) -> None:
        self.clear()
        self._largest.clear()
        self.root.data = Row("note", text=text)
        self.root.allow_expand = False
        self.refresh_rows()

    def show_trace(self, trace, expanded: set[str] | None = None) -> None:
        """Rebuild from a ``model.TraceSnapshot``; nodes in ``expanded`` open at their first occurrence."""
        self.clear()
        self._largest.clear()
        self.root.data = Row("root")
        self.root.allow_expand = True
        self._shown = tree_filter.shown_keys(trace, self.ex.filter, self.hide_dense, self.dense_threshold)
        if self._shown is not None:
            self.root.add_leaf("", data=Row("filter"))
        opened: set[str] = set()
        self._fill(self.root, TARGET, trace, expanded or set(), opened)
        self.root.expand()
        self.cursor_line = 0
        self.refresh_rows()

    def _fill(self, tree_node: TreeNode, key: str, trace, expanded: set[str], opened: set[str]) -> None:
        nodes = trace.children.get(key, ())
        self.add_rows(tree_node, key, nodes, trace.totals.get(key, len(nodes)), 0)
        for child in tree_node.children:
            ckey = child.data.key
            if child.data.kind == "node" and ckey in expanded and ckey not in opened and ckey in trace.children:
                opened.add(ckey)
                self._fill(child, ckey, trace, expanded, opened)
                child.expand()

    def add_rows(self, tree_node: TreeNode, key: str, nodes, total: int, offset: int, trace=None) -> None:
        """Append a page of child rows (and a '… N more' row when the level has more eligible nodes).

        ``trace``: the snapshot that holds the page (default: the state's), for which rows can expand."""
        self.drop_placeholders(tree_node)
        trace = trace or self.ex.trace
        hidden = 0
        if self._shown is not None:  # under a filter, rows are filtered as their pages come
            self._shown |= tree_filter.shown_keys(trace, self.ex.filter, self.hide_dense, self.dense_threshold) or set()
            hidden = sum(str(n.id) not in self._shown for n in trace.children.get(key, nodes))
            nodes = [n for n in nodes if str(n.id) in self._shown]
            if hidden and key != TARGET:  # the root level's are counted on the filter's own line
                tree_node.add_leaf("", data=Row("filter", parent=key, remaining=hidden))
        if offset == 0 and nodes:
            tree_node.add_leaf("", data=Row("level", parent=key))
        for node in self.ordered(key, nodes):
            row = Row("node", node=node, parent=key, upstream=trace is None or trace.has_upstream(node.id))
            if row.expandable:
                tree_node.add("", data=row)
            else:
                tree_node.add_leaf("", data=row)
        loaded = offset + len(nodes)
        if not nodes and offset == 0 and not hidden:
            tree_node.add_leaf("", data=Row("note", parent=key, text="no upstream nodes (first SAE site or none active)"))
        elif total > loaded:
            tree_node.add_leaf("", data=Row("more", parent=key, loaded=loaded, remaining=total - loaded))

    def sort_of(self, key: str) -> str:
        return self.ex.sort.get(key, self.default_sort)

    def ordered(self, key: str, nodes):
        """A level's rows in the order shown (``f`` cycles it: see ``tree_filter.order``)."""
        return tree_filter.order(nodes, self.sort_of(key), self.ex.verify.get(key))

    def shown_keys(self) -> set[str] | None:
        """Node ids the filter lets through (None: no filter, every row is shown)."""
        return self._shown

    def all_rows(self) -> list[TreeNode]:
        """Every built node row, collapsed branches included, in tree order."""
        out: list[TreeNode] = []

        def walk(node: TreeNode) -> None:
            for child in node.children:
                if child.data is not None and child.data.kind == "node":
                    out.append(child)
                walk(child)

        walk(self.root)
        return out

    def occurrences(self, key: str) -> list[TreeNode]:
        return [r for r in self.all_rows() if r.data.key == key]

    def jump_to(self, rows: list[TreeNode]) -> TreeNode | None:
        """Move the cursor to the first of ``rows`` after the cursor in tree order (wrapping), opening its
        branch."""
        if not rows:
            return None
        order = {id(r): i for i, r in enumerate(self.all_rows())}
        here = order.get(id(self.cursor_node), -1)
        target = next((r for r in rows if order[id(r)] > here), rows[0])
        up = target.parent
        while up is not None:
            up.expand()
            up = up.parent
        self.call_after_refresh(self.cursor_to, target)  # the opened rows get their lines on the next refresh
        return target

    def parents_of(self, key: str) -> tuple[str, ...]:
        """The loaded levels node ``key`` appears in (several: reached by several paths)."""
        trace = self.ex.trace
        if self._parents[0] is not trace:
            self._parents = (trace, tree_filter.parents_of(trace))
        return self._parents[1].get(key, ())

    def select_key(self, key: str | None, parent: str) -> None:
        """Put the cursor on the row showing ``key`` at level ``parent`` (the root row for "target")."""
        for line in range(self.last_line + 1):
            node = self.get_node_at_line(line)
            data = node.data if node is not None else None
            if data is not None and data.key == key and (data.kind == "root" or data.parent == parent):
                self.cursor_line = line
                return

    def cursor_to(self, tree_node: TreeNode) -> None:
        """Put the cursor on ``tree_node`` (right after rows were added, when ``move_cursor`` would use the line
        the row had before)."""
        for line in range(self.last_line + 1):
            if self.get_node_at_line(line) is tree_node:
                self.cursor_line = line
                self.scroll_to_node(tree_node, animate=False)
                return

    def on_resize(self) -> None:
        self.guide_depth = 2 if self.size.width < 70 else 3  # deep rows keep room for their numbers and name
        self.refresh_rows()  # labels are cut to the width

    def drop_placeholders(self, tree_node: TreeNode) -> None:
        for child in list(tree_node.children):
            if child.data is not None and (child.data.kind in ("loading", "more", "note")
                                           or child.data.kind == "filter" and child.data.remaining):
                child.remove()

    def alive(self, tree_node: TreeNode | None) -> bool:
        """Is this row still in the tree? (Node ids restart after a rebuild, so compare objects.)"""
        if tree_node is None or tree_node is self.root:
            return tree_node is not None
        try:
            return self.get_node_by_id(tree_node.id) is tree_node
        except UnknownNodeID:
            return False

    def add_loading(self, tree_node: TreeNode) -> None:
        tree_node.add_leaf("", data=Row("loading", text="loading…"))

    def refresh_rows(self) -> None:
        """Redraw every label (state such as ablations is shared by all occurrences of a latent).

        Labels only: the rows are unchanged, so the line list is kept and only visible lines are drawn again. A
        full rebuild measures every label (over a second for 10,000 rows); adding rows rebuilds anyway. Public API
        only: setting a row's ``allow_expand`` (to the value it has) marks the row changed, so its cached line is
        drawn again when shown; ``TreeNode.refresh`` would do that too but repaints each row on its own (about 20
        times slower over a few hundred rows). Rows under collapsed nodes are redrawn when they open.
        """
        for line in range(self.last_line + 1):
            node = self.get_node_at_line(line)
            if node is not None:
                node.allow_expand = node.allow_expand
        self.refresh()

    # ---- keys -------------------------------------------------------------------------------------
    @property
    def row(self) -> Row | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        data = node.data
        if data.kind == "more":
            self._load_more(node)
        elif data.kind == "node" and not data.expandable:
            self.post_message(self.NothingUpstream(data.node))
        elif data.kind == "root" or data.expandable:
            if node.is_expanded and node.children:
                rows = [c for c in node.children if c.data is None or c.data.kind != "level"]
                self.move_cursor((rows or node.children)[0])
            else:
                self.open(node)

    def action_toggle(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        if node.data.kind == "more":
            self._load_more(node)
        elif node.is_expanded:
            node.collapse()
        elif node.data.kind == "root" or node.data.expandable:
            self.open(node)

    def action_cursor_down(self) -> None:
        super().action_cursor_down()
        if self.row is not None and self.row.kind == "level" and self.cursor_line < self.last_line:
            super().action_cursor_down()  # a level's header is not a stop: j and k step over it

    def action_cursor_up(self) -> None:
        super().action_cursor_up()
        if self.row is not None and self.row.kind == "level" and self.cursor_line > 0:
            super().action_cursor_up()

    def action_parent(self) -> None:
        node = self.cursor_node
        if node is not None and node.parent is not None:
            self.move_cursor(node.parent)

    def open(self, node: TreeNode) -> None:
        """Expand a latent: from the trace's cache when its children are known, else ask the app to load."""
        data = node.data
        if node.children:
            node.expand()
            return
        trace = self.ex.trace
        key = data.key
        if trace is not None and key in trace.children:  # loaded at another occurrence of the same latent
            self.add_rows(node, key, trace.children[key], trace.totals.get(key, 0), 0)
            node.expand()
            return
        self.add_loading(node)
        node.expand()
        self.post_message(self.ExpandRequested(node, key, 0))

    def _load_more(self, more: TreeNode) -> None:
        parent = more.parent
        data = more.data
        more.remove()
        self.add_loading(parent)
        self.post_message(self.ExpandRequested(parent, data.parent, data.loaded))

    # ---- labels -----------------------------------------------------------------------------------
    def _room(self, node: TreeNode[Row]) -> int | None:
        """Cells left for a row's label after its guides (None before the first layout)."""
        width = self.scrollable_content_region.width
        if width <= 0:
            return None
        depth, up = 0, node.parent
        while up is not None:
            depth, up = depth + 1, up.parent
        return max(8, width - depth * self.guide_depth)

    def _fit(self, node: TreeNode[Row], text: Text, icon: int) -> Text:
        """Cut the label to the room the row has, with an ellipsis. Numbers come first in every row and the
        shorter forms drop words before numbers, so only token and label text is ever cut. The rows of a level
        all take the same form, so their columns line up."""
        room = self._room(node)
        if room is not None and text.cell_len + icon > room:
            row = node.data
            kind = row.kind if row is not None else None
            if kind == "node":
                text = self.node_text(row, self._level_brief(row.parent, room, icon))
            elif kind in ("root", "level"):
                draw = self.root_text if kind == "root" else (lambda b: self.level_text(row.parent, b))
                text = draw(next((b for b in (1, 2, 3) if draw(b).cell_len + icon <= room), 4))
            text.truncate(room - icon, overflow="ellipsis")
        return text

    def _row_brief(self, row: Row, room: int, icon: int) -> int:
        """The fullest form of a node row that fits; a long label is cut, not squeezed out: stop once its first
        words have room (the share column goes only when the numbers and name alone do not fit)."""
        if self.node_text(row).cell_len + icon <= room:
            return 0
        for brief in (1, 2, 3):
            want = LABEL_ROOM if brief < 3 else 0
            if (self.node_text(row, brief).cell_len + icon <= room
                    or self.node_text(row, brief, label=False).cell_len + want + icon <= room):
                return brief
        return 4

    def _level_brief(self, parent: str, room: int, icon: int) -> int:
        """The form every row of a level takes: the briefest any of its rows needs (cached per state)."""
        state, threshold, cache = self._briefs
        if state is not self.ex or threshold != self.dense_threshold:  # a new state, or the dense tag moved
            cache = {}
            self._briefs = (self.ex, self.dense_threshold, cache)
        if (parent, room, icon) not in cache:
            rows = [Row("node", node=n, parent=parent) for n in (self.ex.trace.children.get(parent, ())
                                                                if self.ex.trace is not None else ())]
            cache[parent, room, icon] = max((self._row_brief(r, room, icon) for r in rows), default=0)
        return cache[parent, room, icon]

    def get_label_width(self, node: TreeNode[Row]) -> int:
        """The width ``render_label`` will have, without styling it (called for every row on a rebuild)."""
        icon = 2 if node.allow_expand or (node.data is not None and node.data.kind == "node") else 0
        return icon + self._fit(node, self.row_text(node.data), icon).cell_len

    def render_label(self, node: TreeNode[Row], base_style: Style, style: Style) -> Text:
        icon = 2 if node.allow_expand or (node.data is not None and node.data.kind == "node") else 0
        label = self._fit(node, self.row_text(node.data), icon)
        label.stylize(style)
        if node.allow_expand:
            prefix = (self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE, base_style)
            return Text.assemble(prefix, label)
        return Text.assemble(("  ", base_style), label) if node.data and node.data.kind == "node" else label

    def row_text(self, row: Row | None) -> Text:
        if row is None:
            return Text("")
        if row.kind == "root":
            return self.root_text()
        if row.kind == "node":
            return self.node_text(row)
        if row.kind == "level":
            return self.level_text(row.parent)
        if row.kind == "more":
            return Text(f"… {row.remaining} more (Enter loads the next page)", style="italic dim")
        if row.kind == "loading":
            return Text(row.text or "loading…", style="italic")
        if row.kind == "filter":
            return self.filter_text(row)
        return Text(row.text, style="dim italic")

    def root_text(self, brief: int = 0) -> Text:
        """The target row. ``brief`` 1..4 leave out, in turn, the metric's name, the ablated probability, the
        clean one and the token, so a narrow tree still shows every value and both Δs whole (the details pane
        has them all)."""
        trace = self.ex.trace
        if trace is None:
            return Text("no trace yet")
        t = trace.target
        metric = t.metric if t.metric != "logit-diff" else f"logit-diff vs {fmt.token(t.foil or '?')}"
        text = Text("◎ ", "bold")
        if self.ex.stale:
            text.append("previous prompt (cancelled) ", "bold italic")
        if brief < 4:
            text.append(fmt.token(t.token), "bold")
        text.append(f" @{t.position}" + (" · " if brief < 3 else " "))
        if brief < 1:
            text.append(f"{metric} ")
        text.append(fmt.num(t.value), "bold")
        if brief < 3:
            text.append(f" · p {fmt.prob(t.prob)}")
        ab = self.ex.ablation
        if ab is not None:
            text.append(" → ", "bold")
            text.append(fmt.num(ab.value), Style(color=self.colours["ablated"], bold=True))
            if brief < 2:
                text.append(f" · p {fmt.prob(ab.prob)}")
            text.append((" · Δ actual " if brief < 2 else " Δ ") + f"{fmt.signed(ab.delta)} est {fmt.signed(ab.estimated_delta)}")
        elif self.ex.ablations:
            text.append(" → ablating…", "italic")
        return text

    def filter_text(self, row: Row) -> Text:
        """What the filter leaves out: on top, 'filter: paris · 3 of 41 rows'; in a level, its hidden rows."""
        undo = " · ".join((["Esc clears"] if self.ex.filter else []) + (["D shows dense"] if self.hide_dense else []))
        if row.remaining:
            return Text(f"{row.remaining} row(s) hidden here ({undo})", style="dim italic")
        shown, total = tree_filter.counts(self.ex.trace, self._shown)
        what = [f"filter: {self.ex.filter}"] if self.ex.filter else []
        if self.hide_dense:
            what.append("dense hidden")
        return Text(f"{' · '.join(what)} · {shown} of {total} rows ({undo})", style="bold")

    def marks(self, key: str) -> Text:
        """After the node's name: ⚑ a pinned node; ⋔N a node reached by N paths (O jumps between its rows)."""
        text = Text()
        if key in self.ex.pins:
            text.append("⚑", Style(color=self.colours["sign-flip"], bold=True))
        paths = len(self.parents_of(key))
        if paths > 1:
            text.append(f"⋔{paths}", Style(color=self.colours["ablated"]))
        return Text(" ") + text if text else text

    def _level_largest(self, parent: str, siblings) -> float:
        """Largest |attribution| among a level's loaded rows (the bar's scale), computed once per page load."""
        key = (parent, len(siblings))
        largest = self._largest.get(key)
        if largest is None:
            largest = self._largest[key] = max((abs(n.attribution) for n in siblings), default=0.0) or 1.0
        return largest

    @staticmethod
    def parent_name(parent: str) -> str:
        """What a level's attributions are to: 'target', or the parent latent's short name."""
        return "target" if parent == TARGET else fmt.node_name(NodeId.parse(parent))

    def level_text(self, parent: str, brief: int = 0) -> Text:
        """A level's header: what its columns are, what they are attributions to, and how well the estimates
        match real ablations. ``brief`` 1..4 (a deep, narrow row) leave out the '%' label, then every column
        label but the sort mark."""
        v = self.ex.verify.get(parent)
        to = f"to {self.parent_name(parent)}"
        if v is None:
            head = f"{'attr':>6} {'':{fmt.BAR_WIDTH}} {'%':>4}"
            tail = ("verifying top rows by real ablation…" if parent in self.ex.verifying
                    else "estimates only · v verifies")
            if self.sort_of(parent) == "position":
                tail = "↓pos · " + tail
            return Text.assemble(("  " + head + "  ", "dim"), (to, "bold"), (" · " + tail, "italic dim"))
        sort = self.sort_of(parent)  # ↓ marks the column the level is ordered by (f cycles)
        est, act = {"estimate": ("↓est Δ", "act Δ"), "actual": ("est Δ", "↓act Δ")}.get(sort, ("est Δ", "act Δ"))
        mark = {"estimate": " ↓est", "actual": " ↓act"}.get(sort, " ↓pos")
        if brief >= 2:
            return Text.assemble((fmt.verify_summary(v), "bold"), (mark, "dim"), (f" {to}", "dim"))
        head = f"{est:>7} {act:>7}" + ("" if brief else f"  {'%':>4}")
        text = Text.assemble(("  " + head + " ", "dim"), (fmt.verify_summary(v), "bold"))
        if sort == "position":
            text.append(" ↓pos", "dim")
        text.append(f" {to}", "dim")
        if parent in self.ex.verifying:
            text.append(" verifying more…", "italic dim")
        return text

    def node_text(self, row: Row, brief: int = 0, label: bool = True) -> Text:
        """A node row: its numbers first, then its name and words. ``brief`` 1..4 (a narrow tree) leave out, in
        turn, the activation, the token, the bar and the share (the details pane shows them all), so the name
        stays whole and the label keeps room; the columns stay aligned as long as the bar is there."""
        node = row.node
        key = str(node.id)
        colour = self.colours["attr-positive" if node.attribution >= 0 else "attr-negative"]
        sign_style = Style(color=colour)
        trace = self.ex.trace
        siblings = trace.children.get(row.parent, ()) if trace is not None else ()
        total = (trace.abs_totals.get(row.parent) if trace is not None else None) or 1.0
        largest = self._level_largest(row.parent, siblings)
        share = abs(node.attribution) / total  # share of the whole level's |attribution|, not just loaded rows
        text = Text()
        scale = self.ex.ablations.get(key)
        if row.parent in self.ex.verify:  # a verified level: estimated and actual Δ side by side
            pair = self.ex.verify_pair(row.parent, key)
            text.append(f"{fmt.signed(-node.attribution):>7}", sign_style)
            if pair is None:
                text.append(f" {'·':>7} ", "dim")
            else:
                act = self.colours["attr-positive" if pair.actual <= 0 else "attr-negative"]
                text.append(f" {fmt.signed(pair.actual):>7}", Style(color=act))
                flip = pair.sign_differs
                text.append("≠" if flip else " ", Style(color=self.colours["sign-flip"], bold=True))
        else:
            text.append(fmt.signed(node.attribution), sign_style)
            if brief < 3:
                text.append(" ")
                text.append(fmt.bar(abs(node.attribution) / largest), sign_style)  # relative to the level's largest
        text.append(" " + fmt.pct(share) + " " if brief < 4 else " ")  # the details pane has the share too
        # Below the root a row's attribution is to its parent; the ablation estimate uses the one to the target.
        if row.parent != TARGET and node.to_target is not None and fmt.signed(node.to_target) != fmt.signed(node.attribution):
            text.append(f"tgt {fmt.signed(node.to_target)} ", "dim")
        if scale is not None:  # after the numbers, so the columns stay aligned
            mark = "μ" if self.ex.is_mean(key) else fmt.scale(scale)  # μ: moved to its mean activation (M)
            text.append(mark + " ", Style(color=self.colours["ablated"], bold=True))
            if key in self.ex.inactive:  # the other ablations switch it off: its own scale changes nothing
                text.append("inactive ", Style(color=self.colours["sign-flip"], italic=True))
        text.append(fmt.node_name(node.id), "bold" if scale is None else Style(bold=True, strike=True))
        text.append_text(self.marks(key))
        if node.is_dense(self.dense_threshold):
            text.append(" dense", Style(color=self.colours["sign-flip"], italic=True))
        if brief < 2:
            text.append(" " + fmt.token(node.token))
        elif label and (node.label or node.id.is_error):
            text.append(":")  # the label follows the name: keep them apart (a label may start with "dense")
        if brief < 1:
            text.append(f" a={fmt.num(node.activation, 2)}", "dim")
        if not label:
            return text
        if node.id.is_error:
            text.append(" error node (what the SAE misses)", "italic")
        elif node.label:
            text.append(" " + node.label, "italic")
        return text

    # ---- for tests ----------------------------------------------------------------------------------
    def shown(self) -> list[tuple[str, str | None, str]]:
        """Visible rows as drawn, labels cut to the width: (kind, node id, label text)."""
        out = []
        for line in range(self.last_line + 1):
            node = self.get_node_at_line(line)
            if node is not None and node.data is not None:
                icon = 2 if node.allow_expand or node.data.kind == "node" else 0
                out.append((node.data.kind, node.data.key, self._fit(node, self.row_text(node.data), icon).plain))
        return out

    def as_data(self) -> list[tuple[int, str, str | None, bool, str]]:
        """Visible rows as plain data: (depth, kind, node id, expanded, label text)."""
        out = []

        def walk(node: TreeNode, depth: int) -> None:
            data = node.data
            out.append((depth, data.kind if data else "?", data.key if data else None, node.is_expanded,
                        self.row_text(data).plain))
            if node.is_expanded:
                for child in node.children:
                    walk(child, depth + 1)

        walk(self.root, 0)
        return out
