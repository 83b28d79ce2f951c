"""Contrast screen (n): sample completions of the prompt, label them, rank latents by Δ-attribution, steer one.

Completions can also be typed or pasted (p; kept across samplings) or loaded from a file (p, then @FILE). Sizes
(c) and steering strength (a) are the app's ``ContrastSettings``. Sampling, mode switches and steering run in
``ContrastJobs`` thread workers; their results come back as messages tagged with ``self.gen`` and are dropped
when stale (Esc or a newer job bumps it). Relabelling is instant: ``Contrast.relabel`` recomputes Δ from stored
per-completion rows. Opening a latent (``o`` / Enter) finds where it matters most in the highlighted completion
(``Contrast.focus``) and dismisses with an ``OpenLatent``; else None.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from .. import format as fmt
from ..bindings import bindings
from ..contrast_jobs import GROUP, ContrastJobs
from ..contrast_settings import ContrastSettings, parse_sizes, parse_strength, sizes_text, strength_text
from ..messages import ContrastFailed, ContrastReady, Focused, JobProgress, Steered
from ..widgets.footer import TracerFooter
from ..widgets.status import StatusLine
from .ask import AskScreen
from .help import HelpScreen

MARKS = {True: ("✗", "bold red"), False: ("✓", "green"), None: ("·", "dim")}
NEXT_LABEL = {True: False, False: None, None: True}  # space cycles ✗ → ✓ → ·


def visible(text: str) -> str:
    """A completion on one line: newlines and tabs shown, other control characters as '·'."""
    text = text.replace("\n", "⏎").replace("\t", "⇥")
    return "".join(ch if ch.isprintable() else "·" for ch in text)


def steer_line(r) -> str:
    band = r.random_band
    rand = ("no random latents" if band["min"] is None else
            f"random band {fmt.pct(band['min']).strip()}–{fmt.pct(band['max']).strip()} (n={len(band['rates'])})")
    return (f"steer {r.latent} α={fmt.signed(r.alpha, 2)} ({r.multiplier:+.2g}× typical): unsteered "
            f"{fmt.pct(r.unsteered_rate).strip()} → steered {fmt.pct(r.rate).strip()} · {rand} · "
            f"{r.samples} samples, seed {r.seed}")


@dataclass(frozen=True)
class OpenLatent:
    """What the tree should trace: predict ``target_id`` at ``position`` of ``text`` (None: the top prediction
    after the text), then point at ``latent``."""

    text: str
    latent: str
    position: int | None = None
    target_id: int | None = None


class ContrastScreen(ContrastJobs, ModalScreen[OpenLatent | None]):
    BINDINGS = bindings("contrast")

    def __init__(self, prompt: str, rule: str | None, settings: ContrastSettings):
        super().__init__()
        self.prompt, self.rule, self.settings = prompt, rule, settings
        self.mode = "zero"
        self.contrast = None  # the engine's Contrast with the current labels
        self.ranking: list = []  # ContrastLatent rows shown in the table
        self.steered = None  # the last SteerResult
        self.gen = 0  # job generation: results from older ones are dropped
        self.running: str | None = None  # what the running job does ("sample", "mode", "steer")
        self.samplings = 0  # each s uses seed + samplings, so sampling again gives new completions
        self.manual: list = []  # completions typed, pasted or loaded by the user: part of every sampling

    # ---- layout -----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="contrast-header")
        yield Static("completions: press s to sample", id="contrast-counts")
        yield DataTable(id="contrast-completions", cursor_type="row", zebra_stripes=False)
        yield Static("", id="contrast-overlap")
        yield DataTable(id="contrast-latents", cursor_type="row")
        yield Static("", id="contrast-steer")
        yield StatusLine(id="contrast-status")
        yield TracerFooter()

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def completions_table(self) -> DataTable:
        return self.query_one("#contrast-completions", DataTable)

    @property
    def latents_table(self) -> DataTable:
        return self.query_one("#contrast-latents", DataTable)

    def on_mount(self) -> None:
        self.completions_table.add_columns("", "#", "completion")
        self.latents_table.add_columns("#", "latent", "Δ-attr", "± se", "act diff", "label")
        self.status.hints = "? keys · Esc closes"
        self._show_header()
        self._show_strength()
        self.completions_table.focus()
        if self.rule:
            self.status.info("s samples completions · r edits the rule · ? lists every key")
        else:
            self.action_edit_rule()

    def _show_header(self) -> None:
        # Two lines, each as wide as the screen: the prompt, then the rule and mode (cut with an ellipsis only
        # when they outgrow the terminal).
        rule = self.rule or "none (press r)"
        prompt = Text.assemble(("prompt ", "bold"), visible(self.prompt), no_wrap=True, overflow="ellipsis")
        mode = Text.assemble(("  mode ", "bold"), self.mode)
        width = max(20, (self.query_one("#contrast-header", Static).content_region.width or 78) - mode.cell_len)
        rule_text = Text.assemble(("rule ", "bold"), rule)
        rule_text.truncate(width, overflow="ellipsis")
        self.query_one("#contrast-header", Static).update(Text("\n").join([prompt, Text.assemble(rule_text, mode)]))

    def on_resize(self) -> None:
        self._show_header()

    def _show_strength(self) -> None:
        self.query_one("#contrast-steer", Static).update(Text(
            f"g / - steer at ±α = {strength_text(self.settings)}{' typical' if self.settings.alpha is None else ''}"
            f" (a) · {self.settings.steer_samples} samples, {self.settings.random} random (c)",
            style="dim", no_wrap=True, overflow="ellipsis"))

    def _set_settings(self, settings: ContrastSettings) -> None:
        self.settings = self.app.contrast_settings = settings  # the app keeps them for the next visit

    # ---- jobs -------------------------------------------------------------------------------------------
    def _start(self, what: str, text: str) -> int:
        self.gen += 1
        self.running = what
        self.status.busy(f"{text}… (Esc cancels)", 0.0)
        return self.gen

    def action_sample(self) -> None:
        if not self.rule:
            self.status.error("no rule yet: press r and type a regex that matches undesired completions")
            return
        s = self.settings
        seed = s.seed + self.samplings
        extra = f" + {len(self.manual)} of yours" if self.manual else ""
        gen = self._start("sample", f"sampling {s.samples} completions{extra} (seed {seed})")
        self.contrast_job(gen, "sample", self.prompt, completions=list(self.manual) or None, samples=s.samples,
                          rule=self.rule, max_tokens=s.max_tokens, temperature=s.temperature, seed=seed,
                          mode=self.mode)
        self.samplings += 1

    def action_toggle_mode(self) -> None:
        mode = "mean" if self.mode == "zero" else "zero"
        if self.contrast is None:
            self.mode = mode
            self._show_header()
            self.status.info(f"mode: {mode} (used at the next sampling)")
            return
        gen = self._start("mode", f"recomputing attributions in {mode} mode")
        self.contrast_job(gen, "mode", self.prompt, completions=self.contrast.completions, mode=mode)

    def action_steer(self, sign: int = 1) -> None:
        latent = self._highlighted_latent()
        if latent is None:
            return
        s = self.settings
        alpha = None if s.alpha is None else sign * s.alpha
        gen = self._start("steer", f"steering {latent.id} ({'+' if sign > 0 else '−'}α, {s.steer_samples} samples, "
                                   f"{s.random} random)")
        self.steer_job(gen, self.prompt, latent.id, samples=s.steer_samples, rule=self.rule, random=s.random,
                       seed=s.seed, max_tokens=s.max_tokens, temperature=s.temperature, alpha=alpha,
                       multiplier=sign * s.multiplier)

    def action_strength(self) -> None:
        self._ask("Steering strength α: a multiple of the latent's typical activation (4x, 2.5x) or an absolute "
                  "value (12.5). - steers with −α.", strength_text(self.settings), parse_strength,
                  "steering strength")

    def action_sizes(self) -> None:
        self._ask("Sizes (name=value): samples and tokens per completion, temperature, seed, top latents listed, "
                  "steer samples, random latents:", sizes_text(self.settings), parse_sizes, "sizes")

    def _ask(self, question: str, value: str, parse, what: str) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self._apply(lambda: parse(text, self.settings), what)

        self.app.push_screen(AskScreen(question, value), done)

    def _apply(self, make, what: str) -> None:
        from ...core.errors import TracerError

        try:
            new = make()
        except TracerError as err:
            self.status.error(str(err))
            return
        top_changed = new.top_k != self.settings.top_k
        self._set_settings(new)
        self._show_strength()
        if top_changed and self.contrast is not None:
            self._show_ranking()
        self.status.info(f"{what} set: {strength_text(new) if what.startswith('steer') else sizes_text(new)}")

    def action_add_completion(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self._add_completions(text)

        self.app.push_screen(AskScreen("Add a completion: type or paste it (\\n for a newline), or @FILE to load a "
                                       "completions file (JSON lines or text separated by --- lines):", "",
                                       " Who cares! Ignore them."), done)

    def _add_completions(self, text: str) -> None:
        from ...core.errors import TracerError
        from ...engine.labeling import Completion, label, read_completions_file, unescape

        try:
            new = (read_completions_file(text[1:].strip()) if text.startswith("@")
                   else [Completion(unescape(text), None, source="given")])
            if not new:
                raise TracerError(f"{text[1:].strip()!r} holds no completions")
            new = label(new, rule=self.rule) if self.rule else new
        except TracerError as err:
            self.status.error(str(err))
            return
        self.manual += new
        marks = "".join(MARKS[c.undesired][0] for c in new)
        if self.contrast is None:
            self.status.info(f"added {len(new)} completion(s) {marks}: s samples {self.settings.samples} more and "
                             "ranks them all")
            return
        gen = self._start("add", f"attributing {len(new)} added completion(s) {marks}")
        self.extend_job(gen, self.contrast, new)

    def on_job_progress(self, msg: JobProgress) -> None:
        msg.stop()
        if msg.gen == self.gen and self.running:
            self.status.busy(f"{msg.step}… (Esc cancels)", msg.frac)

    def on_contrast_ready(self, msg: ContrastReady) -> None:
        msg.stop()
        if msg.gen != self.gen:
            return
        what, self.running = self.running, None
        self.contrast, self.mode, self.steered = msg.result, msg.result.mode, None
        self._show_strength()
        self._show_header()
        self._show_completions()
        if self._show_ranking():
            done = {"sample": "sampled", "add": "added yours to"}.get(what, f"recomputed in {self.mode} mode")
            self.status.info(f"{done} {len(self.contrast.completions)} completions in {msg.seconds:.1f} s · "
                             "u/d/Space relabel · g steers the highlighted latent")

    def on_steered(self, msg: Steered) -> None:
        msg.stop()
        if msg.gen != self.gen:
            return
        self.running = None
        self.steered = msg.result
        line = steer_line(msg.result)
        self.query_one("#contrast-steer", Static).update(Text(line))
        self.status.info(f"steered {msg.result.latent} in {msg.seconds:.1f} s")

    def on_contrast_failed(self, msg: ContrastFailed) -> None:
        msg.stop()
        if msg.gen != self.gen:
            return
        self.running = None
        self.status.error(msg.text)

    # ---- tables -----------------------------------------------------------------------------------------
    def _show_completions(self) -> None:
        table = self.completions_table
        row = table.cursor_row
        table.clear()
        for i, c in enumerate(self.contrast.completions):
            mark, style = MARKS[c.undesired]
            table.add_row(Text(mark, style=style), str(i), Text(visible(c.text), no_wrap=True), key=str(i))
        if self.contrast.completions:
            table.move_cursor(row=min(row, len(self.contrast.completions) - 1))
        n = self.contrast.counts
        self.query_one("#contrast-counts", Static).update(
            f"completions: {n['undesired']} ✗ undesired · {n['desired']} ✓ desired · "
            f"{n['unlabelled']} · unlabelled")

    def _show_ranking(self) -> bool:
        """Rank latents by Δ-attribution; an error (no undesired or no desired completions) clears the table."""
        from ...core.errors import TracerError

        table = self.latents_table
        row = table.cursor_row
        table.clear()
        overlap = self.query_one("#contrast-overlap", Static)
        k = self.settings.top_k
        try:
            self.ranking = self.contrast.top(k)
            shared = self.contrast.overlap(k)
        except TracerError as err:
            self.ranking = []
            overlap.update("")
            self.status.error(str(err))
            return False
        for i, x in enumerate(self.ranking, 1):
            table.add_row(str(i), x.id, fmt.signed(x.delta_attribution), fmt.num(x.delta_se),
                          fmt.signed(x.activation_difference), Text(x.label or ""), key=x.id)
        if self.ranking:
            table.move_cursor(row=min(row, len(self.ranking) - 1))
        sep = ""
        if len(self.ranking) > 1:
            from ...engine.contrast import gap_in_se

            gap = gap_in_se(self.ranking[0], self.ranking[1])
            sep = f" · #1–#2 {gap:.1f} se" + ("" if gap >= 2 else " (not separated)")
        overlap.update(f"Δ-attr top {k} ({self.mode}) ∩ act-diff top {k}: {shared}{sep}")
        return True

    def _highlighted_latent(self):
        table = self.latents_table
        if not self.ranking or table.cursor_row is None or not 0 <= table.cursor_row < len(self.ranking):
            self.status.error("no ranked latents yet: press s to sample completions")
            return None
        return self.ranking[table.cursor_row]

    # ---- labels -----------------------------------------------------------------------------------------
    def _relabel(self, value_of) -> None:
        if self.contrast is None or not self.contrast.completions:
            self.status.error("no completions yet: press s to sample")
            return
        i = self.completions_table.cursor_row
        value = value_of(self.contrast.completions[i].undesired)
        self.contrast = self.contrast.relabel({i: value})
        self._show_completions()
        if self._show_ranking():
            self.status.info(f"completion {i} marked {MARKS[value][0]}: Δ-attribution updated")

    def action_mark(self, undesired: bool) -> None:
        self._relabel(lambda _old: undesired)

    def action_cycle_label(self) -> None:
        self._relabel(lambda old: NEXT_LABEL[old])

    def action_edit_rule(self) -> None:
        def check(text: str) -> str | None:  # a bad regex stays in the dialog with its error, to fix
            from ...core.errors import TracerError
            from ...engine.labeling import Rule

            if not text:
                return None
            try:
                Rule(text)
            except TracerError as err:
                return str(err)
            return None

        def done(text: str | None) -> None:
            if not text:
                if not self.rule:
                    self.status.error("no rule: press r to type one (a regex that matches undesired completions)")
                return
            self.rule = text
            self._set_settings(replace(self.settings, rule=text))
            self._show_header()
            if self.contrast is None:
                self.status.info("rule set: press s to sample completions")
                return
            self.contrast = self.contrast.relabel(rule=text)
            self._show_completions()
            if self._show_ranking():
                self.status.info("every completion relabelled with the new rule")

        self.app.push_screen(AskScreen("Undesired rule: a regex (case-insensitive) matching bad completions:",
                                       self.rule or "", r"who cares|idiot|!", check=check), done)

    # ---- navigation, opening, closing ------------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        focused = self.focused
        if isinstance(focused, DataTable):
            (focused.action_cursor_down if step > 0 else focused.action_cursor_up)()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table is self.latents_table:
            self.action_open()

    def action_open(self) -> None:
        latent = self._highlighted_latent()
        if latent is None:
            return
        index = self.completions_table.cursor_row
        gen = self._start("open", f"finding where {latent.id} matters most in completion {index}")
        self.focus_job(gen, self.contrast, index, latent.id)

    def on_focused(self, msg: Focused) -> None:
        msg.stop()
        if msg.gen != self.gen:
            return
        self.running = None
        latent, focus = msg.result
        if focus is None:  # inactive on this completion: trace its end, the tree says whether the latent shows
            text = self.prompt + self.contrast.completions[self.completions_table.cursor_row].text
            self.dismiss(OpenLatent(text, latent))
        else:
            self.dismiss(OpenLatent(focus.text, latent, focus.position, focus.target_id))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_messages(self) -> None:
        from .messages import MessagesScreen

        self.app.push_screen(MessagesScreen(self.status.history))

    def _cancel(self) -> bool:
        was = self.running is not None
        self.gen += 1  # whatever a running job returns is now stale
        self.running = None
        for worker in list(self.app.workers):
            if worker.node is self and worker.group == GROUP and worker.is_running:
                worker.cancel()
                was = True
        return was

    def action_close(self) -> None:
        if self._cancel():
            self.status.info("cancelled (Esc again closes the screen)")
            return
        self.dismiss(None)
