"""The top line: model, device and SAE sites (or what is loading), fitted to the width: a long SAE list shows
as many sites as fit and says how many there are ("4 of 13 SAEs: … …")."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from .. import format as fmt


def info_line(info: dict, width: int) -> Text:
    m = info["model"]
    sites = [fmt.site(s["site"]) for s in info["saes"]]
    head = Text.assemble(("tracer-tui", "bold"), "  ", (m["name"], "bold"),
                         f" · {m['device']} {m['dtype']} · {m['layers']}L · ")
    full = Text.assemble(head, "SAEs: ", (" ".join(sites), "italic"))
    if full.cell_len <= width or not sites:
        return full
    for shown in range(len(sites) - 1, 0, -1):
        line = Text.assemble(head, f"{shown} of {len(sites)} SAEs: ", (" ".join(sites[:shown]) + " …", "italic"))
        if line.cell_len <= width:
            return line
    line = Text.assemble(head, f"{len(sites)} SAEs …")
    line.truncate(width, overflow="ellipsis")
    return line


class InfoHeader(Static):
    info: dict | None = None

    def show_loading(self, what: str) -> None:
        self.info = None
        self.update(Text.assemble(("tracer-tui", "bold"), "  loading ", (what, "italic"), no_wrap=True,
                                  overflow="ellipsis"))

    def show_info(self, info: dict) -> None:
        self.info = info
        self._draw()

    def on_resize(self) -> None:
        if self.info is not None:
            self._draw()

    def _draw(self) -> None:
        width = self.content_region.width or 78
        self.update(info_line(self.info, width))
