"""The tracer-tui application: layout, keys, and the glue between widgets and engine jobs.

Importing this module must not import torch, transformer_lens or sae_lens (a test checks): the screen paints
first, then the model loads in a thread worker. Engine work runs in ``jobs.EngineJobs`` workers whose results
come back as messages tagged with a generation number; stale ones are dropped here.

State has one owner: ``self.ex`` (a frozen ``model.Exploration``), replaced only through ``set_state``, which
redraws the widgets from it. Widgets draw from its immutable records; the live engine ``Trace``
(``self.live_trace``) is handed to jobs only, which use it under ``self.engine_lock``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from ..core import session as sessions
from .wording import describe
from . import format as fmt
from ..core import paths
from ..core.errors import TracerError
from ..core.validation import expand_path
from ..core.defaults import (DEFAULT_METRIC, DEFAULT_TOP_K, DEFAULT_UPSTREAM, METRICS, RESUME_VERIFY_LEVELS,
                             UPSTREAM_MODES, VERIFY_MORE_K)
from .bindings import KEYS, bindings
from .jobs import EngineJobs
from .keymap import load_keymap
from .messages import (AblateFailed, Ablated, DetailsFailed, DetailsReady, ExpandFailed, Expanded, ExportFailed,
                       Loaded, LoadFailed, LoadProgress, Located, Notice, ResumeFailed, Tokenized, TraceFailed,
                       Traced, Verified, VerifyFailed)
from .model import Exploration, Expansion, TraceRequest
from .options import Options
from .research import ResearchActions
from .screens.ask import AskScreen
from .contrast_settings import ContrastSettings
from .screens.contrast import ContrastScreen
from .screens.help import HelpScreen
from .screens.messages import MessagesScreen
from .screens.picker import PickerScreen
from .themes import DEFAULT_THEME, VARIABLES, load_theme_specs, to_textual
from .timing import Timing
from .widgets.details import DetailsPane, render_node, render_target
from .widgets.footer import TracerFooter
from .widgets.header import InfoHeader
from .widgets.latent_tree import TARGET, LatentTree
from .widgets.predictions import PredictionList, PredictionsPane
from .widgets.status import StatusLine
from .widgets.token_strip import TokenStrip

log = logging.getLogger("tracer_tui.tui")
MIN_PAGE_ROWS = 5  # a level page never shrinks below this on a very short terminal


def default_factory(options: Options):
    """Load the model and SAEs named in ``options`` (None: the bundled demo)."""

    def load(progress):
        from ..engine.tracer import Tracer

        return Tracer.load(model=options.model, saes=options.saes, device=options.device, dtype=options.dtype,
                           progress=progress, labels=options.labels)

    return load


class TracerApp(ResearchActions, EngineJobs, App):
    CSS_PATH = "app.tcss"
    TITLE = "tracer-tui"
    BINDINGS = bindings("app")

    def __init__(self, options: Options | None = None, tracer_factory=None, timing: Timing | None = None,
                 theme_dirs: list[Path] | None = None, keymap_path: Path | None = None):
        super().__init__()
        self.options = options or Options()
        self.animation_level = "none"  # spinners and slides repaint over SSH
        self.timing = timing or Timing()
        self.notes: list[str] = []  # start-up problems shown once the screen is up
        self.load_remembered()  # self.settings: theme, auto-verify, dense threshold, … from the last run
        self.ex = Exploration(TraceRequest("", upstream=self.settings.upstream))  # the one state: see set_state
        self.live_trace = None  # the engine Trace behind ex.trace: for jobs only, under engine_lock
        self.gen = 0  # newest trace request
        self.trace_gen = -1  # request that produced the trace on screen
        self.ablate_gen = 0  # newest ablation request
        self.tracer = None
        self.engine_lock = threading.RLock()  # one engine call at a time (tokenizers are not re-entrant)
        self.save_lock = threading.Lock()
        self.save_seq = 0
        self.load_error: str | None = None  # why the model did not load (no trace can run)
        self._pending: tuple | None = None  # a trace requested before the model was ready
        self.restored_levels: set[str] = set()  # levels a resume opened and the user has not opened since
        self.restored_verify_left = 0  # how many more of them are verified as they appear
        self.requested: TraceRequest | None = None  # the newest trace request (on screen, running or cancelled)
        self._tokens_prompt = ""
        self.session_path: Path | None = None
        self.resume_session = None
        self.last_sample = None  # the sample prompt opened last (its undesired_rule seeds the contrast screen)
        self.contrast_settings = ContrastSettings()
        self.look_for: str | None = None  # a latent (SITE:LATENT) to point at after the next trace
        self.auto_verify_k = self.settings.auto_verify_k  # rows of each new level ablated for real (0: off)
        self.dense_threshold = self.settings.dense_threshold  # latents firing on more than this share are dense
        self.verify_seq: dict[str, int] = {}  # level -> its newest verify request (older results are dropped)
        self.verify_workers: dict[str, Worker] = {}  # level -> its running verify job
        self._load_factory = tracer_factory
        self._keymap_path = keymap_path
        self.closer = None  # shutdown.Closer, made on mount: quit and signals close through it
        self.keymap: dict[str, str] = {}  # the user's key overrides (binding id -> keys), for the help screen
        self._setup_themes(theme_dirs)
        self._setup_resume()

    # ---- layout -------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield InfoHeader(id="header")
        with Horizontal(id="prompt-row"):
            yield Static("prompt ›", id="prompt-label")
            yield Input(value=fmt.one_line(self.options.prompt or ""), id="prompt",
                        placeholder="type a prompt, Enter traces the top prediction (? for keys)")
        yield TokenStrip(id="tokens")
        with Horizontal(id="main"):
            yield LatentTree(self.ex, id="tree")
            with Vertical(id="side"):
                yield PredictionsPane(id="predictions")
                yield DetailsPane(id="details")
        yield StatusLine(id="status")
        yield TracerFooter()

    @property
    def status(self) -> StatusLine:
        return self.query_one(StatusLine)

    @property
    def tree(self) -> LatentTree:
        return self.query_one(LatentTree)

    @property
    def prompt_input(self) -> Input:
        return self.query_one("#prompt", Input)

    @property
    def prompt_text(self) -> str:
        """The prompt as the model sees it: the one-line box shows each newline as ⏎."""
        return fmt.from_one_line(self.prompt_input.value)

    def show_prompt(self, prompt: str) -> None:
        self.prompt_input.value = fmt.one_line(prompt)

    # ---- state ---------------------------------------------------------------------------------------
    def set_state(self, ex: Exploration, rebuild: bool = False) -> None:
        """The only way the state changes: store the new one, then the widgets redraw from it (``rebuild``: the
        tree's rows too, for a new trace)."""
        old, self.ex = self.ex, ex
        if rebuild:
            self.tree.ex = ex
            self.tree.show_trace(ex.trace, {e.node for e in ex.expanded})
        def changed(*names: str) -> bool:  # records are replaced, never changed: identity says it
            return any(getattr(old, n) is not getattr(ex, n) for n in names)

        self.tree.set_class(ex.stale, "stale")
        if rebuild or changed("trace", "ablations", "ablation", "verify", "stale", "inactive"):
            self.tree.show_state(ex)
        else:
            self.tree.ex = ex
        if rebuild or changed("trace", "ablation"):
            self._show_predictions()
        self._show_details()

    def on_mount(self) -> None:
        self.theme = self._initial_theme
        self.theme_changed_signal.subscribe(self, lambda theme: (self._apply_theme_colours(),
                                                                 self.remember_theme(theme.name)))
        self._apply_theme_colours()
        self.tree.hide_dense, self.tree.default_sort = self.settings.hide_dense, self.settings.sort
        self.set_dense_threshold(self.dense_threshold)
        keymap, error = load_keymap(self._keymap_path)
        if keymap:
            self.keymap = keymap
            self.set_keymap(keymap)
        if error:
            self.notes.append(error)
        self.query_one(InfoHeader).show_loading(self.options.model or "the bundled demo model")
        self.tree.show_message("type a prompt and press Enter")
        self.prompt_input.focus()
        self._install_signal_handlers()
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self.timing.mark_first_paint()
        if self.notes:
            self.status.error(" · ".join(self.notes))
        self.status.busy("loading model…", 0.0)
        factory = self._load_factory or default_factory(self._load_options())
        self.load_job(factory)
        if self.options.prompt and self.options.prompt.strip() and not self.options.resume:
            self.request_trace(self._new_request(self.options.prompt))  # --prompt: traced once the model is up

    # ---- themes ---------------------------------------------------------------------------------------
    def _setup_themes(self, theme_dirs) -> None:
        specs, errors = load_theme_specs(theme_dirs)
        self.notes.extend(errors)
        for spec in specs.values():
            self.register_theme(to_textual(spec))
        self.theme_names = sorted(specs)
        wanted = self.options.theme or self.settings.theme or DEFAULT_THEME
        if wanted not in specs:
            self.notes.append(f"unknown theme {wanted!r} (available: {', '.join(self.theme_names)}); "
                              f"using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self._initial_theme = wanted

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLES)

    def _apply_theme_colours(self) -> None:
        variables = {**VARIABLES, **self.current_theme.variables}
        self.tree.colours = {k: variables[k] for k in VARIABLES}
        self.tree.refresh_rows()

    # ---- loading ---------------------------------------------------------------------------------------
    def _load_options(self) -> Options:
        """The CLI options, or the resumed session's model and SAEs when none were given."""
        o = self.options
        s = self.resume_session
        if s is not None and o.model is None and not o.saes:
            return Options(model=s.model, saes=list(s.saes), device=o.device, dtype=o.dtype)
        return o

    def on_load_progress(self, msg: LoadProgress) -> None:
        if msg.step.startswith("offline:") and msg.step not in self.notes:
            self.notes.append(msg.step)  # the next load step would hide it: keep it for after loading
        self.status.busy(f"loading: {msg.step}", msg.frac)
        self.query_one(InfoHeader).show_loading(msg.step)

    def on_loaded(self, msg: Loaded) -> None:
        self.tracer = msg.tracer
        self.timing.mark_loaded()
        info = self.tracer.info()
        self.query_one(InfoHeader).show_info(info)
        took = f" in {msg.seconds:.1f} s" if self.options.show_timings else ""
        self.status.info(f"ready: {info['model']['name']} loaded{took}")
        self.notes.extend(f"warning: {w}" for w in self.tracer.warnings)  # e.g. an SAE trained on another model
        if self.notes:  # start-up problems (theme, keymap, session, offline) stay visible after loading
            self.status.error(" · ".join(self.notes))
        self._refresh_tokens()
        if self.resume_session is not None:
            self._start_resume(info)
        elif self._pending is not None:
            request, session = self._pending
            self._pending = None
            self._run_trace(request, session)

    # ---- prompt and tokens -------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "prompt":
            self._refresh_tokens()

    def _refresh_tokens(self) -> None:
        prompt = self.prompt_text
        if self.tracer is not None and prompt and prompt != self._tokens_prompt:
            self.tokenize_job(prompt)

    def on_tokenized(self, msg: Tokenized) -> None:
        if msg.prompt == self.prompt_text:
            self._tokens_prompt = msg.prompt
            strip = self.query_one(TokenStrip)
            strip.set_tokens(msg.tokens)
            if self.ex.trace is not None and self.ex.request.prompt == msg.prompt:
                strip.traced = self.ex.trace.target.position

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "prompt":
            return
        event.stop()
        prompt = fmt.from_one_line(event.value)
        if not prompt.strip():
            self.status.error("type a prompt first")
            return
        self.tree.focus()
        self.request_trace(self._new_request(prompt))

    def _new_request(self, prompt: str, **changes) -> TraceRequest:
        """A request for ``prompt`` with the metric and foil on screen."""
        r = self.ex.request
        return TraceRequest(prompt, metric=r.metric, foil=r.foil, upstream=r.upstream).with_(**changes)

    def on_token_strip_position_chosen(self, msg: TokenStrip.PositionChosen) -> None:
        prompt = self.prompt_text
        if prompt.strip():
            self.request_trace(self._new_request(prompt, position=None if msg.last else msg.position))

    def on_predictions_pane_picked(self, msg: PredictionsPane.Picked) -> None:
        if self.ex.trace is not None:
            self.request_trace(self.ex.request.with_(target=None, target_id=msg.token_id))
            self.tree.focus()

    # ---- tracing ---------------------------------------------------------------------------------------
    def request_trace(self, request: TraceRequest, session=None) -> None:
        """Start a trace; any older one is cancelled and its result will be dropped. The state changes only
        when it succeeds, so a failed request (bad foil, metric) leaves the trace, metric and foil on screen."""
        if self.tracer is None and self.load_error is not None:
            self.status.error(f"no model is loaded ({self.load_error}): restart tracer-tui with another --model, "
                              "--sae, --device or --dtype")
            return
        if session is None and self.ex.trace is None:
            self.session_path = None  # a resume that never reached the screen (Esc, a newer trace): keep its file
        self.gen += 1
        self.requested = request
        self._cancel_verifies()  # a new trace: no level of the old one gets numbers any more
        if self.tracer is None:
            self._pending = (request, session)
            self.status.busy("will trace when the model is loaded… (Esc cancels)", None)
            return
        self._run_trace(request, session)

    def page_rows(self) -> int:
        """Rows per page of a level: as many as the tree shows below the root, its level header and the
        '… N more' row (``Options.page_rows`` fixes it; the engine's default before the first layout)."""
        if self.options.page_rows:
            return self.options.page_rows
        height = self.tree.size.height
        return max(MIN_PAGE_ROWS, height - 3) if height > 0 else DEFAULT_TOP_K

    def _run_trace(self, request: TraceRequest, session=None) -> None:
        # A trace and its expansions page by what fits; a resumed one as it was saved (its offsets line up).
        self.top_k = self.page_rows() if session is None else session.page_rows
        self.status.busy(f"tracing {request.describe()}… (Esc cancels)", None)
        self.trace_job(self.gen, request, session)

    def on_traced(self, msg: Traced) -> None:
        if msg.gen != self.gen:  # a newer request (or Esc) superseded this one
            return
        self.live_trace, self.trace_gen = msg.live, msg.gen
        self.ablate_gen += 1  # an ablation of the previous trace is stale
        # A resume verifies the root and its first RESUME_VERIFY_LEVELS levels on arrival; the others when the
        # user opens them (1,000 saved levels verified at once held the engine for minutes).
        self.restored_levels = {e.node for e in (msg.replay or {}).get("expanded", ())} - {TARGET}
        self.restored_verify_left = RESUME_VERIFY_LEVELS
        self.set_state(Exploration(request=msg.request, trace=msg.trace, **(msg.replay or self.kept_marks(msg.request))),
                       rebuild=True)
        strip = self.query_one(TokenStrip)
        if msg.request.prompt == self.prompt_text:
            strip.traced = msg.trace.target.position
            strip.cursor = msg.trace.target.position
        t = msg.trace.target
        mode = "" if msg.request.upstream == DEFAULT_UPSTREAM else f" (upstream {msg.request.upstream})"
        self.status.info(f"traced {fmt.token(t.token)} @{t.position}{mode}: {t.metric} {fmt.num(t.value)}, "
                         f"p {fmt.prob(t.prob)}" + (f" in {msg.seconds:.2f} s" if self.options.show_timings else "")
                         + self._point_to_latent())
        self.autosave()

    def _point_to_latent(self) -> str:
        """After opening a latent from the contrast screen: put the cursor on its first row when the root shows
        it; otherwise search the levels below (``Trace.path_to`` in a job, ``on_located`` opens the path)."""
        latent, self.look_for = self.look_for, None
        if latent is None:
            return ""
        for line in range(self.tree.last_line + 1):
            node = self.tree.get_node_at_line(line)
            if node is not None and node.data is not None and (node.data.key or "").startswith(f"{latent}@"):
                self.tree.cursor_line = line
                return f" · contrast latent {latent}: highlighted ({node.data.key})"
        self.locate_job(self.trace_gen, self.live_trace, latent)
        return f" · looking for contrast latent {latent} in the levels below…"

    def on_located(self, msg: Located) -> None:
        if msg.gen != self.trace_gen:
            return
        if msg.path is None:
            self.status.info(f"contrast latent {msg.latent} is not among the top {self.top_k} rows of any level "
                             "on the way down: expand (l) and load more (… N more) to look further")
            return
        known = {e.node for e in self.ex.expanded}
        opened = tuple(Expansion(p, 0) for p in msg.path[:-1] if p not in known)
        self.set_state(self.ex.with_(trace=msg.trace, expanded=self.ex.expanded + opened))
        node = self.tree.root
        for key in msg.path:
            if not node.is_expanded or not node.children:
                self.tree.open(node)
            node = next((c for c in node.children if c.data is not None and c.data.key == key), None)
            if node is None:
                self.status.error(f"contrast latent {msg.latent}: its path {' → '.join(msg.path)} is not in the tree")
                return
        self.tree.cursor_to(node)
        where = " → ".join(fmt.node_name(r) for r in (self._node_id(k) for k in msg.path[:-1]))
        self.status.info(f"contrast latent {msg.latent}: highlighted ({msg.path[-1]}), "
                         f"level {len(msg.path)}" + (f" under {where}" if where else ""))
        self.autosave()

    @staticmethod
    def _node_id(key: str):
        from ..core.nodes import NodeId

        return NodeId.parse(key)

    def _show_predictions(self) -> None:
        trace = self.ex.trace
        if trace is None:
            return
        ab = self.ex.ablation
        preds = ab.top_predictions if ab is not None else trace.predictions
        self.query_one(PredictionsPane).show(trace.target.metric, trace.target.foil, trace.target.position,
                                             preds, trace.target.id, ablated=ab is not None)

    # ---- tree -------------------------------------------------------------------------------------------
    def on_latent_tree_expand_requested(self, msg: LatentTree.ExpandRequested) -> None:
        if not self._live():
            if self.tree.alive(msg.tree_node):
                self.tree.drop_placeholders(msg.tree_node)
                msg.tree_node.collapse()
            return
        self.status.busy(f"expanding {msg.key}…", None)
        self.expand_job(self.trace_gen, self.live_trace, msg.key, msg.offset, msg.tree_node)

    def on_expanded(self, msg: Expanded) -> None:
        if msg.gen != self.trace_gen:
            return
        page = msg.page
        self._add_page(page, msg.tree_node)
        loaded = page.offset + len(page.nodes)
        whose = "the target" if page.parent == TARGET else fmt.node_name(self._node_id(page.parent))
        self.status.info(f"{loaded} of {page.total} upstream nodes of {whose} loaded (+{len(page.nodes)})")
        if page.offset > 0 and page.nodes and self.tree.alive(msg.tree_node):
            self._cursor_to_node(msg.tree_node, str(page.nodes[0].id))  # "… N more": on to the first new row
        self.autosave()

    def _cursor_to_node(self, parent, key: str) -> None:
        row = next((c for c in parent.children if c.data is not None and c.data.key == key), None)
        if row is not None:
            self.tree.cursor_to(row)
            self._show_details()

    def _add_page(self, page, node, **changes) -> None:
        """A loaded page joins the state (and the session's expansion log) and the tree rows under ``node``."""
        ex = self.ex.with_(trace=self.ex.trace.with_page(page),
                           expanded=self.ex.expanded + (Expansion(page.parent, page.offset),), **changes)
        if node is not None and self.tree.alive(node):
            self.tree.add_rows(node, page.parent, page.nodes, page.total, page.offset, ex.trace)
            node.expand()
        self.set_state(ex)

    def on_expand_failed(self, msg: ExpandFailed) -> None:
        if msg.gen != self.trace_gen:
            return
        node = msg.tree_node
        if node is not None and self.tree.alive(node):  # the row closes again (no "loading…"): Enter retries
            self.tree.drop_placeholders(node)
            node.collapse()
        self.status.error(msg.text)

    def on_tree_node_highlighted(self, event) -> None:
        self._show_details()

    def _show_details(self) -> None:
        pane = self.query_one(DetailsPane)
        trace, row = self.ex.trace, self.tree.row
        if trace is None or row is None:
            return
        if row.kind != "node":
            pane.show(render_target(trace, self.ex.ablation, self.ex.ablations, self.ex.request.upstream))
            return
        key = str(row.node.id)
        details = self.ex.details.get(key)
        pane.show(self.with_note(render_node(row.node, row.parent, details, self.ex.ablations.get(key),
                                             self.ex.verify_pair(row.parent, key), self.dense_threshold), key))
        if details is None:
            self.details_job(self.trace_gen, self.live_trace, row.node.id)

    def on_details_ready(self, msg: DetailsReady) -> None:
        if msg.gen == self.trace_gen:
            self.set_state(self.ex.with_(details={**self.ex.details, msg.node_id: msg.details}))

    def on_details_failed(self, msg: DetailsFailed) -> None:
        if msg.gen == self.trace_gen:
            self.status.error(msg.text)

    # ---- ablation ---------------------------------------------------------------------------------------
    def _live(self) -> bool:
        """Is there a trace to act on? (A greyed tree, left by a cancelled trace of a new prompt, is read-only.)"""
        if self.ex.trace is None:
            self.status.error("nothing traced yet: type a prompt and press Enter")
            return False
        if self.ex.stale:
            self.status.error(f"the tree is for the previous prompt {fmt.shorten(fmt.one_line(self.ex.request.prompt), 40)!r}"
                              " (the new trace was cancelled): press Enter in the prompt (i) to trace the new one")
            return False
        return True

    def _highlighted_node(self):
        if not self._live():
            return None
        row = self.tree.row
        if row is not None and row.kind == "root":
            self.status.error("the root is the target itself, not a node: highlight one of its drivers (j) to ablate it")
            return None
        if row is None or row.kind != "node":
            self.status.error("highlight a latent or error node row first (j / k)")
            return None
        return row.node

    def action_toggle_ablation(self) -> None:
        node = self._highlighted_node()
        if node is None:
            return
        key = str(node.id)
        ablations = dict(self.ex.ablations)
        if key in ablations:
            del ablations[key]
        elif self.mean_mode:  # M: to the latent's mean activation (its scale is found in a job)
            self.ablate_group(f"{fmt.node_name(node.id)}", ids=[key])
            return
        else:
            ablations[key] = 0.0
        self._apply_ablations(ablations)

    def action_scale_ablation(self) -> None:
        node = self._highlighted_node()
        if node is None:
            return
        key = str(node.id)
        current = self.ex.ablations.get(key)

        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                value = float(text)
            except ValueError:
                self.status.error(f"scale must be a number (e.g. 2, 0.5, -1), got {text!r}")
                return
            if value != value or value in (float("inf"), float("-inf")):
                self.status.error(f"scale must be a finite number, got {text!r}")
                return
            ablations = dict(self.ex.ablations)
            if value == 1.0:
                ablations.pop(key, None)  # ×1 is no intervention at all
            else:
                ablations[key] = value
            self._apply_ablations(ablations)

        self.push_screen(AskScreen(f"Scale {fmt.node_name(node.id)} by (0 = zero-ablate, 1 = remove):",
                                   "" if current is None else f"{current:g}", "2, 0.5, -1 …"), done)

    def action_clear_ablations(self) -> None:
        if self.ex.ablations:
            self._apply_ablations({})
            self.status.info("ablations cleared")

    def _apply_ablations(self, ablations: dict[str, float]) -> None:
        self.ablate_gen += 1
        if not ablations:
            self.set_state(self.ex.with_(ablations={}, ablation=None, inactive=frozenset()))
            self.autosave()
            return
        self.set_state(self.ex.with_(ablations=ablations))  # the old result stays until the new one arrives
        self.status.busy(f"re-running the model with {len(ablations)} ablation(s)…", None)
        self.ablate_job(self.trace_gen, self.ablate_gen, self.live_trace, dict(ablations))

    def on_ablated(self, msg: Ablated) -> None:
        if msg.gen != self.trace_gen or msg.ablate_gen != self.ablate_gen:
            return
        r = msg.result
        self.set_state(self.ex.with_(ablation=r, inactive=msg.inactive))
        off = "".join(f" · {fmt.node_name(self._node_id(k))} inactive: the other ablations already zero it, so its "
                      "scale changes nothing" for k in sorted(msg.inactive))
        self.status.info(f"ablated {len(r.interventions)}: {fmt.num(r.value)}, Δ {fmt.signed(r.delta)} "
                         f"est {fmt.signed(r.estimated_delta)}" + self.group_note(msg.ablate_gen) + off)
        self.autosave()

    def on_ablate_failed(self, msg: AblateFailed) -> None:
        if msg.gen != self.trace_gen:
            return
        self.set_state(self.ex.with_(ablation=None))
        self.status.error(msg.text)

    def action_show_ablations(self) -> None:
        if not self.ex.ablations:
            self.status.info("no ablations active (a or Space ablates the highlighted latent)")
            return
        labels = {}
        if self.ex.trace is not None:
            for nodes in self.ex.trace.children.values():
                for n in nodes:
                    labels[str(n.id)] = f"{fmt.token(n.token)} {n.label or ''}"
        items = [(k, Text(f"{fmt.scale(s):>5} {k} {labels.get(k, '')}")) for k, s in self.ex.ablations.items()]

        def remove(key: str) -> None:
            self._apply_ablations({k: s for k, s in self.ex.ablations.items() if k != key})

        self.push_screen(PickerScreen("Active ablations", items, "d removes · c in the tree clears all · Esc closes",
                                      on_delete=remove))

    # ---- verify ---------------------------------------------------------------------------------------------
    # Every level gets real single ablations of its top ``auto_verify_k`` rows when it appears (after its first
    # paint); v verifies the highlighted level with more rows. One job per level, tagged with the level's newest
    # request number (``verify_seq``): Esc, a new trace or closing the level cancels it, and what a cancelled or
    # superseded job still posts is dropped, so no number from it ever reaches the screen.
    def _start_verify(self, parent: str, k: int, auto: bool, more: int = 0) -> None:
        self._cancel_verify(parent)
        seq = self.verify_seq[parent] = self.verify_seq.get(parent, 0) + 1
        self.set_state(self.ex.with_(verifying=self.ex.verifying | {parent}))
        self.verify_workers[parent] = self.verify_job(self.trace_gen, seq, self.live_trace, parent, k, auto, more)

    def _cancel_verify(self, parent: str) -> bool:
        """Stop the level's running verify job; its result will be dropped. True when one was running."""
        worker = self.verify_workers.pop(parent, None)
        self.verify_seq[parent] = self.verify_seq.get(parent, 0) + 1
        running = worker is not None and worker.is_running
        if worker is not None:
            worker.cancel()
        return running

    def _cancel_verifies(self) -> bool:
        running = False
        for parent in list(self.verify_workers) + list(self.ex.verifying):
            running = self._cancel_verify(parent) or running
        if self.ex.verifying:
            self.set_state(self.ex.with_(verifying=frozenset()))
        return running

    def _auto_verify(self, gen: int, parent: str) -> None:
        """Verify a level that has just appeared, unless it is verified, being verified, or turned off."""
        ex = self.ex
        if (gen != self.trace_gen or ex.trace is None or self.auto_verify_k < 1 or parent in ex.verify
                or parent in ex.verifying):
            return
        k = min(self.auto_verify_k, len(ex.trace.children.get(parent, ())))
        if k >= 1:
            self._start_verify(parent, k, auto=True)

    def on_tree_node_expanded(self, event) -> None:
        data = event.node.data
        if self.ex.trace is None or data is None or data.key is None or data.key not in self.ex.trace.children:
            return  # still loading: on_expanded opens it again when the rows are there
        if data.key in self.restored_levels:  # opened by the resume, not by the user
            self.restored_levels.discard(data.key)
            self.restored_verify_left -= 1
            if self.restored_verify_left < 0:
                return  # v, or opening it again, verifies it
        # After the level's first paint: the ablations never delay the rows.
        self.call_after_refresh(self._auto_verify, self.trace_gen, data.key)

    def on_tree_node_collapsed(self, event) -> None:
        data = event.node.data
        if data is not None and data.key is not None and data.key in self.ex.verifying:
            self._cancel_verify(data.key)
            self.set_state(self.ex.with_(verifying=self.ex.verifying - {data.key}))

    def action_verify(self) -> None:
        trace, row = self.ex.trace, self.tree.row
        if not self._live() or row is None:
            return
        parent = TARGET if row.kind == "root" else row.parent
        loaded = len(trace.children.get(parent, ()))
        k = min(max(VERIFY_MORE_K, 2 * self.auto_verify_k), max(loaded, trace.totals.get(parent, 0)))
        if k < 1:
            self.status.error("nothing to verify at this level")
            return
        self.status.busy(f"verifying {k} nodes under {parent} (real single ablations; Esc cancels)…", None)
        self._start_verify(parent, k, auto=False, more=max(0, k - loaded))

    def on_verified(self, msg: Verified) -> None:
        r = msg.result
        if msg.gen != self.trace_gen or self.verify_seq.get(r.parent) != msg.seq:
            return  # cancelled or superseded: its numbers never reach the screen
        self.verify_workers.pop(r.parent, None)
        changes = {"verify": {**self.ex.verify, r.parent: r}, "verifying": self.ex.verifying - {r.parent}}
        if msg.page is not None:  # the rows v loaded to verify more of the level: the tree shows them too
            self._add_page(msg.page, self._level_node(r.parent), **changes)
            self.autosave()
        else:
            self.set_state(self.ex.with_(**changes))
        if not msg.auto:  # the numbers first: a narrow status line still shows them
            self.status.info(f"verify {fmt.verify_summary(r)} (k={r.k} real single ablations) · level under "
                             f"{LatentTree.parent_name(r.parent)}")

    def on_verify_failed(self, msg: VerifyFailed) -> None:
        if msg.gen == self.trace_gen and self.verify_seq.get(msg.parent) == msg.seq:
            self.verify_workers.pop(msg.parent, None)
            self.set_state(self.ex.with_(verifying=self.ex.verifying - {msg.parent}))
            self.status.error(msg.text)

    def _level_node(self, parent: str):
        """The open tree row whose children are ``parent``'s level (the root for "target"), or None."""
        if parent == TARGET:
            return self.tree.root
        for line in range(self.tree.last_line + 1):
            node = self.tree.get_node_at_line(line)
            if node is not None and node.data is not None and node.data.key == parent and node.is_expanded:
                return node
        return None

    # ---- settings: auto-verify, upstream mode -----------------------------------------------------------------
    def action_auto_verify(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                k = int(text)
            except ValueError:
                k = -1
            if k < 0:
                self.status.error(f"rows to verify must be a whole number >= 0 (0 = off), got {text!r}")
                return
            self.auto_verify_k = k
            self.remember(auto_verify_k=k)
            if k == 0:
                self._cancel_verifies()
            self.status.info("auto-verify off: v verifies a level" if k == 0 else
                             f"auto-verify: the top {k} rows of each new level are ablated for real")
            self.autosave()

        self.push_screen(AskScreen("Rows of each new level to verify by real ablation (0 = off):",
                                   str(self.auto_verify_k), "10"), done)

    def action_dense_threshold(self) -> None:
        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                pct = float(text.strip().rstrip("%"))
            except ValueError:
                pct = float("nan")
            if not 0 <= pct <= 100:  # NaN fails too
                self.status.error(f"dense threshold must be a percentage of tokens from 0 to 100, got {text!r}")
                return
            self.set_dense_threshold(pct / 100)
            self.remember(dense_threshold=pct / 100)
            self.status.info(f"latents firing on more than {pct:g}% of tokens are marked dense")
            self.autosave()

        self.push_screen(AskScreen("Mark latents dense above this share of tokens (%):",
                                   f"{100 * self.dense_threshold:g}", "10"), done)

    def set_dense_threshold(self, threshold: float) -> None:
        self.dense_threshold = self.tree.dense_threshold = threshold
        self.tree.refresh_rows()
        self._show_details()

    def action_toggle_upstream(self) -> None:
        """Children from the nearest upstream level, or from every upstream site pooled (traces again)."""
        r = self.ex.request
        upstream = UPSTREAM_MODES[(UPSTREAM_MODES.index(r.upstream) + 1) % len(UPSTREAM_MODES)]
        self.remember(upstream=upstream)
        trace = self.ex.trace
        if trace is None:
            self.set_state(self.ex.with_(request=r.with_(upstream=upstream)))
            self.status.info(f"upstream: {upstream}")
            return
        self.request_trace(r.with_(target=None, target_id=trace.target.id, position=trace.target.position,
                                   upstream=upstream))

    # ---- target, metric, foil ---------------------------------------------------------------------------------
    def action_cycle_metric(self) -> None:
        metric = self.ex.request.metric
        metric = METRICS[(METRICS.index(metric) + 1) % len(METRICS)]
        if metric == "logit-diff" and not self.ex.request.foil:
            self._ask_foil(from_metric_key=True)  # logit-diff needs a foil: ask for one
            return
        self._change_metric(metric, self.ex.request.foil)

    def _change_metric(self, metric: str, foil: str | None) -> None:
        """Trace again with the traced token pinned; with no trace yet, the next trace uses them."""
        trace = self.ex.trace
        if trace is None:
            self.set_state(self.ex.with_(request=self.ex.request.with_(metric=metric, foil=foil)))
            self.status.info(f"metric: {metric}")
            return
        self.request_trace(self.ex.request.with_(target=None, target_id=trace.target.id,
                                                 position=trace.target.position, metric=metric, foil=foil))

    def action_set_foil(self) -> None:
        self._ask_foil(from_metric_key=False)

    def _ask_foil(self, from_metric_key: bool) -> None:
        def done(text: str | None) -> None:
            if text:
                self._change_metric("logit-diff", text)
            elif from_metric_key:
                self.status.info(f"no foil token: metric stays {self.ex.request.metric}")

        self.push_screen(AskScreen("Foil token for logit-diff (leading space matters, e.g. ' Rome'):",
                                   self.ex.request.foil or "", "' Rome'"), done)

    def action_custom_target(self) -> None:
        def done(text: str | None) -> None:
            if text:
                base = self.ex.request if self.ex.trace is not None else self._new_request(self.prompt_text)
                prompt = self.prompt_text or base.prompt
                self.request_trace(base.with_(prompt=prompt, target=text, target_id=None))

        self.push_screen(AskScreen("Target token (leading space matters, e.g. ' Paris'):", "", "' Paris'"), done)

    def action_retrace(self) -> None:
        if self.ex.trace is not None:
            self.request_trace(self.ex.request)
        elif self.prompt_text.strip():
            self.request_trace(self._new_request(self.prompt_text))

    # ---- focus and panes ------------------------------------------------------------------------------------
    def on_descendant_focus(self, _event) -> None:
        self._show_focus()

    def on_descendant_blur(self, _event) -> None:
        self._show_focus()

    def _show_focus(self) -> None:
        """Say where letters go: into the prompt ("type ›", keys do not act) or to the app (the focused pane is
        tinted)."""
        label = self.query_one("#prompt-label", Static)
        typing = self.focused is not None and self.focused is self.prompt_input
        label.update("type ›" if typing else "prompt ›")
        label.set_class(typing, "typing")

    def action_edit_prompt(self) -> None:
        self.prompt_input.focus()

    def action_pick_position(self) -> None:
        self.query_one(TokenStrip).focus()

    def action_pick_prediction(self) -> None:
        self.query_one(PredictionList).focus()

    def action_toggle_details(self) -> None:
        side = self.query_one("#side")
        side.set_class(not side.has_class("hidden"), "hidden")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_messages(self) -> None:
        self.push_screen(MessagesScreen(self.status.history))

    def on_latent_tree_nothing_upstream(self, msg: LatentTree.NothingUpstream) -> None:
        node = msg.node
        self.status.info(f"{fmt.node_name(node.id)}: an error node has no upstream drivers" if node.id.is_error else
                         f"{fmt.node_name(node.id)} has nothing upstream: no SAE site before its own")

    def action_cancel(self) -> None:
        cancelled = self._pending is not None
        self._pending = None
        for worker in list(self.workers):
            if worker.group in ("trace", "locate") and worker.is_running:
                worker.cancel()
                cancelled = True
        if cancelled:
            self.gen += 1  # whatever the cancelled trace returns is now stale
            self._grey_if_other_prompt()
        if self._cancel_verifies() or cancelled:
            self.status.info("cancelled")
        elif self.focused is not self.prompt_input and self.clear_filter():
            pass  # Esc in the tree drops the `/` filter
        elif self.focused is self.prompt_input:
            self.tree.focus()  # nothing to cancel: Esc leaves the prompt, so letter keys act again

    # ---- sample prompts and export ---------------------------------------------------------------------------
    def sample_prompts(self) -> tuple[list, list[str]]:
        """(readable samples, one message per broken file)."""
        from .samples import load_samples

        return load_samples(paths.repo_dir("sample_prompts"))

    def action_samples(self) -> None:
        samples, errors = self.sample_prompts()
        if errors:
            self.status.error(f"skipped {len(errors)} broken sample prompt file(s): {' · '.join(errors)}")
        if not samples:
            if not errors:
                self.status.error(f"no sample prompts in {paths.repo_dir('sample_prompts')}")
            return
        by_name = {s.name: s for s in samples}
        items = [(s.name, Text.assemble(s.title, "  ", (f"→ {fmt.token(s.target)} · {s.model}", "dim")))
                 for s in samples]  # Text, not markup: a '[' in a title is just a character
        self.push_screen(PickerScreen("Sample prompts", items), lambda name: name and self.load_sample(by_name[name]))

    def load_sample(self, sample) -> None:
        self.last_sample = sample
        self.show_prompt(sample.prompt)
        if sample.model not in ("demo", None) and self.options.model is None:
            self.notify(f"this sample is made for {sample.model} (--model {sample.model} --sae {sample.sae})",
                        severity="warning", markup=False)
        self.tree.focus()
        # The sample's own metric and foil, never the previous prompt's (a foil makes it logit-diff).
        self.request_trace(self._new_request(sample.prompt, target=sample.target, foil=sample.foil,
                                             metric="logit-diff" if sample.foil else DEFAULT_METRIC))

    # ---- contrast screen -------------------------------------------------------------------------------------
    def action_contrast_screen(self) -> None:
        prompt = self.prompt_text
        if self.tracer is None:
            self.status.error("contrast needs the model: wait until it is loaded")
            return
        if not prompt.strip():
            self.status.error("type a prompt first (i), then press n for the contrast screen")
            return
        sample = self.last_sample
        rule = sample.undesired_rule if sample is not None and sample.prompt == prompt else None
        self.push_screen(ContrastScreen(prompt, rule or self.contrast_settings.rule, self.contrast_settings),
                         self._open_from_contrast)

    def _open_from_contrast(self, result) -> None:
        """Trace where the contrast latent matters most (``OpenLatent``) and point at it when the tree shows it."""
        if not result:
            return
        self.show_prompt(result.text)
        self.look_for = result.latent
        self.tree.focus()
        self.request_trace(self._new_request(result.text, position=result.position, target_id=result.target_id))

    def action_export(self, suffix: str = ".json") -> None:
        if not self._live():
            return
        default = paths.data_dir() / "exports" / f"graph-{time.strftime('%Y%m%d-%H%M%S')}{suffix}"

        def done(text: str | None) -> None:
            if not text:
                return
            try:  # a bad folder is the user's to fix: one line, the app stays up
                path = expand_path(text.strip(), "export file")
                path.parent.mkdir(parents=True, exist_ok=True)
            except TracerError as err:
                self.status.error(f"export failed: {describe(err)}")
                return
            except OSError as err:
                self.status.error(f"export failed: cannot create the folder {str(path.parent)!r}: {err.strerror or err}")
                return
            self.export_job(self.trace_gen, self.live_trace, str(path), self._graph_extras())

        self.push_screen(AskScreen("Export the explored graph to (.json node-link or .graphml):", str(default)), done)

    def _graph_extras(self) -> dict:
        """What the session holds beside the graph, for ``engine.graph.build_graph``."""
        return {"ablations": dict(self.ex.ablations), "ablation": self.ex.ablation, "verify": dict(self.ex.verify)}

    # ---- sessions -------------------------------------------------------------------------------------------
    def _setup_resume(self) -> None:
        if not self.options.resume:
            return
        try:
            path = sessions.resolve_resume(self.options.resume)
            self.resume_session = sessions.load_session(path)
            self.session_path = path
        except sessions.SessionError as err:
            self.notes.append(str(err))

    def _start_resume(self, info: dict) -> None:
        s, self.resume_session = self.resume_session, None
        try:
            s.check_model(info["model"]["source"], [x["source"] for x in info["saes"]], f"session {self.session_path}")
        except sessions.SessionError as err:
            self.session_path = None  # never overwrite a session we could not use
            self.status.error(str(err))
            return
        self.show_prompt(s.prompt)
        self.auto_verify_k = s.auto_verify_k
        self.set_dense_threshold(s.dense_threshold)
        t = s.target or {}
        self.request_trace(TraceRequest(s.prompt, position=t.get("position"), target_id=t.get("id"),
                                        metric=s.metric, foil=s.foil, upstream=s.upstream), session=s)
        self.tree.focus()

    def _snapshot(self):
        """A function building the Session from the current state (run it under the engine lock: the graph
        comes from the live trace)."""
        ex, live, tracer = self.ex, self.live_trace, self.tracer
        if ex.trace is None or live is None or tracer is None:
            return lambda: None
        expanded, ablations = [e.to_json() for e in ex.expanded], dict(ex.ablations)
        t, auto_verify_k, dense_threshold, page_rows = ex.trace.target, self.auto_verify_k, self.dense_threshold, self.top_k
        extras = self._graph_extras()

        def build():
            from ..engine.graph import build_graph, to_node_link

            info = tracer.info()
            return sessions.Session(model=info["model"]["source"], saes=[s["source"] for s in info["saes"]],
                                    prompt=ex.request.prompt,
                                    target={"token": t.token, "id": t.id, "position": t.position},
                                    metric=t.metric, foil=t.foil, expanded=expanded, ablations=ablations,
                                    graph=to_node_link(build_graph(live, **extras)), upstream=ex.request.upstream,
                                    auto_verify_k=auto_verify_k, dense_threshold=dense_threshold,
                                    pins=list(ex.pins), notes=dict(ex.notes),
                                    mean_ablated=[k for k in ex.ablations if ex.is_mean(k)], filter=ex.filter,
                                    sort=dict(ex.sort), page_rows=page_rows)

        return build

    def write_session(self, session) -> None:
        if self.session_path is None:
            self.session_path = sessions.new_session_path(session.prompt)
        sessions.save_session(session, self.session_path)

    def autosave(self) -> None:
        if not self.options.autosave or self.ex.trace is None:
            return
        self.save_seq += 1
        self.save_job(self.save_seq, self._snapshot())

    def save_now(self, timeout: float = 2.0) -> bool:
        """Synchronous save (quit, hang-up, the palette): waits at most ``timeout`` for a running engine call and
        never builds the session without the engine lock. True when saved or there is nothing to save."""
        if not self.options.autosave or self.ex.trace is None:
            return True
        deadline = time.monotonic() + timeout
        if not self.engine_lock.acquire(timeout=timeout):
            log.warning("session not saved: the engine stayed busy for %.1f s", timeout)
            return False
        try:
            session = self._snapshot()()
            if session is None:
                return True
            if not self.save_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                log.warning("session not saved: another save stayed busy for %.1f s", timeout)
                return False
            try:
                self.save_seq += 1
                self.write_session(session)
            finally:
                self.save_lock.release()
            return True
        except Exception as err:
            log.warning("session not saved: %s", describe(err))
            return False
        finally:
            self.engine_lock.release()

    # ---- failures and notices ---------------------------------------------------------------------------
    def on_load_failed(self, msg: LoadFailed) -> None:
        self.query_one(InfoHeader).show_loading("failed")
        self.tree.show_message("the model did not load: the reason is on the right")
        self._pending = None
        self.load_error = msg.message
        self.status.error(msg.text)
        self.query_one(DetailsPane).show(Text(msg.text, style="bold red"))  # the whole reason, wrapped

    def on_trace_failed(self, msg: TraceFailed) -> None:
        """The trace, metric and foil on screen stay (greyed when the failed request was for another prompt)."""
        if msg.gen == self.gen:
            self.look_for = None
            self._grey_if_other_prompt()
            self.status.error(msg.text)

    def _grey_if_other_prompt(self) -> None:
        """A trace of a new prompt was cancelled or failed: the tree on screen is not the prompt's above, so it is
        greyed and read-only until a trace succeeds."""
        r = self.requested
        if self.ex.trace is not None and r is not None and r.prompt != self.ex.request.prompt:
            self.set_state(self.ex.with_(stale=True))

    def on_resume_failed(self, msg: ResumeFailed) -> None:
        if msg.gen == self.gen:
            self.look_for = None
            self.session_path = None  # never overwrite a session that could not be replayed
            self.status.error(f"{msg.text}; the session file is left unchanged")

    def on_export_failed(self, msg: ExportFailed) -> None:
        if msg.gen == self.trace_gen:
            self.status.error(msg.text)

    def on_notice(self, msg: Notice) -> None:
        (self.status.error if msg.error else self.status.info)(msg.text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Jobs report their own errors; this catches anything that escaped them.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.status.error(f"{event.worker.group} failed: {describe(event.worker.error)}")

    # ---- command palette ------------------------------------------------------------------------------------
    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for k in KEYS:
            if k.scope == "app" and k.palette:
                yield SystemCommand(k.description, k.help, lambda a=k.action: self.run_action(a))
        for k in KEYS:
            if k.scope == "app" and not k.palette:
                yield SystemCommand(k.description, k.help, lambda a=k.action: self.run_action(a), discover=False)
        yield SystemCommand("Dense threshold…", "mark latents dense above this share of tokens (default 10%)",
                            self.action_dense_threshold)
        yield SystemCommand("Export graph as JSON", "node-link JSON of the explored graph",
                            lambda: self.action_export(".json"))
        yield SystemCommand("Export graph as GraphML", "GraphML of the explored graph",
                            lambda: self.action_export(".graphml"))
        yield SystemCommand("Save session now", "write the session file (it also saves after every change)",
                            self._save_command, discover=False)
        for name in self.theme_names:
            yield SystemCommand(f"Theme: {name}", "switch to this theme", lambda n=name: setattr(self, "theme", n),
                                discover=False)
        for s in self.sample_prompts()[0]:
            yield SystemCommand(f"Sample: {s.title}", f"{s.prompt!r} → {s.target!r}",
                                lambda s=s: self.load_sample(s), discover=False)

    def _save_command(self) -> None:
        self.save_now()
        self.status.info(f"session saved to {self.session_path}" if self.session_path else "nothing to save yet")

    # ---- quitting ---------------------------------------------------------------------------------------------
    # Quit, SIGHUP and SIGTERM all go through ``shutdown.Closer``: cancel the workers, save within a bound, exit;
    # when this app is the whole process (``exit_process``, set by ``launch.run_tui``) the process is gone within
    # ``shutdown.EXIT_BOUND_S`` even if a worker is stuck in torch or Textual's shutdown blocks.
    exit_process = False
    SIGNALS = ("SIGHUP", "SIGTERM")

    @property
    def closing(self) -> bool:
        return self.closer is not None and self.closer.closing

    def action_quit(self) -> None:
        if self.closer is None:  # not mounted yet
            self.exit()
            return
        self.status.busy("saving the session…", None)
        self.closer.request("quit")

    def _install_signal_handlers(self) -> None:
        from . import shutdown

        loop = asyncio.get_running_loop()

        def exit_app(code: int) -> None:
            try:
                loop.call_soon_threadsafe(lambda: self.exit(return_code=code))
            except RuntimeError:  # the loop is already closed: the app has ended
                pass

        def cancel() -> None:
            try:
                loop.call_soon_threadsafe(self.workers.cancel_all)  # jobs also see ``closing`` and stop
            except RuntimeError:
                pass

        self.closer = shutdown.Closer(cancel, self.save_now, exit_app, shutdown.leave if self.exit_process else None)
        self._old_handlers = {}
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            try:  # a Python-level handler: it runs even while the event loop is blocked
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):  # not the main thread, or not a POSIX signal here
                pass

    def _on_signal(self, signum, _frame) -> None:
        self._on_hangup(signum)

    def _on_hangup(self, sig) -> None:
        """The terminal went away (SIGHUP) or we were told to stop (SIGTERM): save, then exit; after a hang-up
        the terminal is never touched again. A second signal while closing leaves at once."""
        if self.closer is not None:
            self.closer.request(f"signal {signal.Signals(sig).name}", hangup=sig == getattr(signal, "SIGHUP", None))

    def on_unmount(self) -> None:
        for sig, handler in getattr(self, "_old_handlers", {}).items():
            try:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        if self.closer is not None:
            self.closer.stop()
