"""The top-k next-token predictions at the traced position, and the metric in use."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...core.defaults import DEFAULT_METRIC
from .. import format as fmt
from ..bindings import bindings


class PredictionList(OptionList):
    """j / k stop at the ends: a wrap from #1 to #10 reads as a jump to another target."""

    BINDINGS = bindings("predictions")

    def action_cursor_up(self) -> None:
        if self.highlighted:
            super().action_cursor_up()

    def action_cursor_down(self) -> None:
        if self.highlighted is None or self.highlighted < self.option_count - 1:
            super().action_cursor_down()


class PredictionsPane(Vertical):
    class Picked(Message):
        def __init__(self, token_id: int, token: str):
            super().__init__()
            self.token_id, self.token = token_id, token

    def compose(self) -> ComposeResult:
        yield Static(f"metric: {DEFAULT_METRIC}", id="metric")
        yield PredictionList(id="prediction-list")

    def show(self, metric: str, foil: str | None, position: int | None, predictions, target_id: int | None,
             ablated: bool = False) -> None:
        """Draw from records (``core.nodes.Prediction``); ``foil``: logit-diff's subtracted token."""
        head = Text.assemble(("metric ", "dim"), (metric, "bold"))
        if metric == "logit-diff" and foil is not None:
            head.append(f" vs {fmt.token(foil)}")
        if position is not None:
            head.append(f"  next @{position}", "dim")
        if ablated:
            head.append("  (ablated)", "italic")
        self.query_one("#metric", Static).update(head)
        options = []
        for i, p in enumerate(predictions):
            mark = "◎" if p.id == target_id else " "
            options.append(Option(Text.assemble(f"{mark}{i + 1:>2} ", (fmt.token(p.token), "bold"), " ",
                                                (fmt.prob(p.prob), "dim")), id=f"{p.id}"))
        lst = self.query_one(PredictionList)
        lst.set_options(options)
        if options:  # the cursor on the target's row (the first when the target is not among them)
            lst.highlighted = next((i for i, p in enumerate(predictions) if p.id == target_id), 0)
        self._predictions = tuple(predictions)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        p = self._predictions[event.option_index]
        self.post_message(self.Picked(p.id, p.token))
