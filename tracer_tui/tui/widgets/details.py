"""The details pane for the highlighted row: label, snippets, activation sparkline, logit effects, link."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from collections.abc import Mapping

from rich.console import Group
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from .. import format as fmt
from ...core.defaults import DENSE_THRESHOLD
from ...core.nodes import NodeId


def node_details(trace, node_id) -> Mapping:
    """Everything the pane shows for one node, read-only (engine calls: run it in a worker, under the lock)."""
    site = trace.tracer.site_by_name[node_id.site]
    latent = node_id.latent
    info = site.labels.get(latent) if latent is not None else None
    promoted, suppressed = trace.logit_effects(node_id, n=6)
    return MappingProxyType({
        "profile": tuple(trace.activation_profile(node_id)),
        "tokens": tuple(trace.tokens),
        "root_attribution": trace.root_attribution(node_id),
        "promoted": tuple(promoted),
        "suppressed": tuple(suppressed),
        "info": info,
        "url": site.neuronpedia_url(latent) if latent is not None else None,
        "source": site.source,
    })


def render_node(node, parent: str, details: Mapping | None, scale: float | None, pair=None,
                dense_threshold: float = DENSE_THRESHOLD) -> Group:
    parts: list = []
    title = Text.assemble((fmt.node_name(node.id), "bold"), " ", fmt.token(node.token))
    parts.append(title)
    parts.append(Text(str(node.id), style="dim"))
    if node.id.is_error:
        parts.append(Text("error node: the part of the activation the SAE does not explain", style="italic"))
    elif node.label:
        parts.append(Text(node.label, style="bold italic"))
    # Short keys and one number a line: the pane is 24 columns wide at 80x24.
    if parent == "target":
        rows = [("to target", fmt.signed(node.attribution))]
    else:  # below the root: to its parent (what the row shows) and to the target (what the Δ estimate uses)
        rows = [("parent", fmt.node_name(NodeId.parse(parent))), ("to parent", fmt.signed(node.attribution))]
        if node.to_target is not None:
            rows.append(("to target", fmt.signed(node.to_target)))
        elif details is not None:
            rows.append(("to target", fmt.signed(details["root_attribution"])))
    rows.append(("activation", fmt.num(node.activation)))
    if not node.id.is_error:
        rows.append(("density", fmt.density(node.density) + (" (dense: likely not one concept)"
                                                               if node.is_dense(dense_threshold) else "")))
    if scale is not None:
        rows.append(("ablated", "zero" if scale == 0 else f"scaled {fmt.scale(scale)}"))
    if pair is not None:
        rows += [("est Δ", fmt.signed(pair.estimated)),
                 ("actual Δ", fmt.signed(pair.actual) + (" ≠ other sign" if pair.sign_differs else ""))]
    for k, v in rows:
        parts.append(Text.assemble((f"{k:<11}", "dim"), v))
    if details is None:
        parts.append(Text("loading details…", style="italic dim"))
        return Group(*parts)
    profile, tokens = details["profile"], details["tokens"]
    if profile:
        peak = max(range(len(profile)), key=lambda i: profile[i])
        spark = Text(fmt.sparkline(profile))
        if node.id.position < len(spark):
            spark.stylize("reverse", node.id.position, node.id.position + 1)
        parts.append(Text("activation across the prompt", style="dim"))
        parts.append(spark)
        parts.append(Text(f"peak {fmt.num(profile[peak], 2)} at @{peak} {fmt.token(tokens[peak])}", style="dim"))
    if details["promoted"]:
        parts.append(Text.assemble(("promotes  ", "dim"), " ".join(fmt.token(t) for t, _ in details["promoted"])))
        parts.append(Text.assemble(("suppresses ", "dim"), " ".join(fmt.token(t) for t, _ in details["suppressed"])))
    info = details["info"]
    if info is not None and info.snippets:
        parts.append(Text("top activations", style="dim"))
        for s in info.snippets[:5]:
            parts.append(Text("  " + fmt.shorten(" ".join(s.split()), 200)))
    if details["url"]:
        parts.append(Text.from_markup(f"[link={details['url']}]Neuronpedia: {details['url']}[/link]"))
    parts.append(Text(f"SAE {Path(details['source']).name or details['source']}", style="dim"))
    return Group(*parts)


def render_target(trace, ablation, ablations: Mapping[str, float], upstream: str | None = None) -> Group:
    """The root row's pane, from a ``model.TraceSnapshot`` and the ablation records."""
    t = trace.target
    parts: list = [Text.assemble(("target ", "dim"), (fmt.token(t.token), "bold"), f" (id {t.id}) @{t.position}")]
    parts.append(Text.assemble(("metric ", "dim"), t.metric, (f" vs {fmt.token(t.foil)}" if t.foil else "")))
    parts.append(Text.assemble(("clean  ", "dim"), f"{fmt.num(t.value)}  p {fmt.prob(t.prob)}"))
    if upstream is not None:
        parts.append(Text.assemble(("levels ", "dim"), "nearest upstream level (u: all sites)" if upstream == "nearest"
                                   else "all upstream sites pooled (u: nearest level)"))
    if ablation is not None:
        parts.append(Text.assemble(("ablated ", "dim"), f"{fmt.num(ablation.value)}  p {fmt.prob(ablation.prob)}"))
        parts.append(Text.assemble(("Δ actual ", "dim"), fmt.signed(ablation.delta), ("  est ", "dim"),
                                   fmt.signed(ablation.estimated_delta)))
    if ablations:
        parts.append(Text(f"ablations ({len(ablations)})", style="bold"))
        for key, s in ablations.items():
            parts.append(Text(f"  {fmt.scale(s)} {key}"))
    parts.append(Text("prompt", style="dim"))
    parts.append(Text(" ".join(fmt.token(x) for x in trace.tokens)))
    return Group(*parts)


class DetailsPane(VerticalScroll):
    def compose(self):
        yield Static("Highlight a row in the tree to see its details.", id="details-body")

    def show(self, renderable) -> None:
        self.query_one("#details-body", Static).update(renderable)
