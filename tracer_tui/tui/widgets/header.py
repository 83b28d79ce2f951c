"""The top line: model, device and SAE sites (or what is loading)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from .. import format as fmt


class InfoHeader(Static):
    def show_loading(self, what: str) -> None:
        self.update(Text.assemble(("tracer-tui", "bold"), "  loading ", (what, "italic")))

    def show_info(self, info: dict) -> None:
        m = info["model"]
        sites = " ".join(fmt.site(s["site"]) for s in info["saes"])
        self.update(Text.assemble(("tracer-tui", "bold"), "  ", (m["name"], "bold"), f" · {m['device']} "
                                  f"{m['dtype']} · {m['layers']}L · SAEs: ", (sites, "italic")))
