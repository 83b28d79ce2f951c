"""Node identities and the plain, immutable records the engine returns. No torch here: the UI and CLI use these
freely, and the TUI keeps them as they are in its snapshots (frozen: nothing can change under a widget)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import TracerError

# SITE:LATENT@POS or SITE:error@POS, e.g. blocks.3.hook_resid_pre:1021@9
_NODE_RE = re.compile(r"^(?P<site>[A-Za-z_][\w.]*):(?P<latent>\d+|error)@(?P<pos>\d+)$")
_LAYER_RE = re.compile(r"^blocks\.(\d+)\.")

TARGET = "target"


@dataclass(frozen=True, order=True)
class NodeId:
    """A latent (``latent`` is an index) or an error node (``latent`` is None) at one site and position."""

    site: str
    latent: int | None
    position: int

    @property
    def is_error(self) -> bool:
        return self.latent is None

    def __str__(self) -> str:
        latent = "error" if self.latent is None else str(self.latent)
        return f"{self.site}:{latent}@{self.position}"

    @classmethod
    def parse(cls, text: str | NodeId) -> NodeId:
        if isinstance(text, NodeId):
            return text
        match = _NODE_RE.match(str(text).strip())
        if not match:
            raise TracerError(
                f"malformed node id {text!r}: expected SITE:LATENT@POS or SITE:error@POS, "
                "e.g. blocks.3.hook_resid_pre:1021@9"
            )
        latent = match["latent"]
        return cls(match["site"], None if latent == "error" else int(latent), int(match["pos"]))


def site_layer(site: str, n_layers: int) -> int:
    """Block index of a hook name: -1 before the first block (embeddings), n_layers after the last (ln_final)."""
    match = _LAYER_RE.match(site)
    if match:
        return int(match.group(1))
    return n_layers if site.startswith("ln_final") or site.startswith("unembed") else -1


# Every hook point inside one TransformerLens block, in the order the forward pass reaches them (whichever of
# them a model's configuration turns on): the optional attention inputs, ln1, attention, the optional post-
# attention norm (Gemma 2), resid_mid, the optional hook_mlp_in, ln2, the MLP, the optional post-MLP norm.
_BLOCK_ORDER = [
    "hook_resid_pre", "hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input",
    "ln1.hook_scale", "ln1.hook_normalized",
    "attn.hook_attn_input", "attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_rot_q", "attn.hook_rot_k",
    "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "attn.hook_result",
    "ln1_post.hook_scale", "ln1_post.hook_normalized", "hook_attn_out", "hook_resid_mid", "hook_mlp_in",
    "ln2.hook_scale", "ln2.hook_normalized",
    "mlp.hook_gate", "mlp.hook_pre", "mlp.hook_pre_linear", "mlp.hook_mid", "mlp.hook_post",
    "mlp.hook_expert_weights", "mlp.hook_expert_indices",
    "ln2_post.hook_scale", "ln2_post.hook_normalized", "hook_mlp_out", "hook_resid_post",
]
_BLOCK_RANK = {name: i for i, name in enumerate(_BLOCK_ORDER)}
# Hook points outside the blocks, in forward order.
_PRE_ORDER = ["hook_embed", "hook_pos_embed", "hook_tokens"]
_FINAL_ORDER = ["ln_final.hook_scale", "ln_final.hook_normalized"]


# Residual-stream hook points: an SAE here is a complete decomposition of the stream (docs/attribution.md, "Levels").
RESIDUAL_HOOKS = ("hook_resid_pre", "hook_resid_mid", "hook_resid_post")


def is_residual_site(site: str) -> bool:
    """Is this hook point the residual stream itself (not an attention/MLP output, hook_z, ...)?"""
    return site.rsplit(".", 1)[-1] in RESIDUAL_HOOKS


def site_order_key(site: str, n_layers: int) -> tuple[int, int]:
    """Sort key placing hook points in the order the forward pass reaches them."""
    layer = site_layer(site, n_layers)
    if layer < 0:
        return (layer, _PRE_ORDER.index(site) if site in _PRE_ORDER else len(_PRE_ORDER))
    if layer >= n_layers and not site.startswith("blocks."):
        return (layer, _FINAL_ORDER.index(site) if site in _FINAL_ORDER else len(_FINAL_ORDER))
    rest = site.split(".", 2)[2] if site.startswith("blocks.") else site
    if rest in _BLOCK_RANK:
        return (layer, _BLOCK_RANK[rest])
    # An unlisted hook: after the longest listed name it extends (e.g. a component's inner hook).
    known = [name for name in _BLOCK_ORDER if rest.startswith(name.rsplit(".", 1)[0] + ".")]
    if known:
        return (layer, _BLOCK_RANK[max(known, key=len)])
    return (layer, len(_BLOCK_ORDER))


@dataclass(frozen=True)
class Node:
    """One attributed node: a latent or an error node, ranked under a parent ("target" or a node id)."""

    id: NodeId
    parent: str
    layer: int
    token: str
    activation: float
    attribution: float
    label: str | None = None

    @property
    def kind(self) -> str:
        return "error" if self.id.is_error else "latent"

    def to_json(self) -> dict:
        return {
            "id": str(self.id),
            "parent": self.parent,
            "kind": self.kind,
            "site": self.id.site,
            "layer": self.layer,
            "latent": self.id.latent,
            "position": self.id.position,
            "token": self.token,
            "activation": self.activation,
            "attribution": self.attribution,
            "label": self.label,
        }


@dataclass(frozen=True)
class Intervention:
    """Scale one node at its site and position: 0 is zero-ablation, 2 doubles it, -1 flips it."""

    node: NodeId
    scale: float = 0.0


@dataclass(frozen=True)
class Prediction:
    token: str
    id: int
    prob: float

    def to_json(self) -> dict:
        return {"token": self.token, "id": self.id, "prob": self.prob}


@dataclass(frozen=True)
class Target:
    token: str
    id: int
    position: int
    metric: str
    value: float
    prob: float
    foil: str | None = None  # logit-diff's subtracted token
    foil_id: int | None = None

    def to_json(self) -> dict:
        out = {"token": self.token, "id": self.id, "position": self.position, "metric": self.metric,
               "value": self.value, "prob": self.prob}
        if self.foil is not None:
            out["foil"] = self.foil
            out["foil_id"] = self.foil_id
            # The keys this token had before it was called the foil, kept so existing scripts read on.
            out["contrast"], out["contrast_id"] = self.foil, self.foil_id
        return out


@dataclass(frozen=True)
class AblationResult:
    interventions: tuple[Intervention, ...]
    value: float
    prob: float
    delta: float
    estimated_delta: float
    top_predictions: tuple[Prediction, ...] = ()

    def to_json(self) -> dict:
        return {
            "nodes": [str(i.node) for i in self.interventions],
            "scales": [i.scale for i in self.interventions],
            "value": self.value,
            "prob": self.prob,
            "delta": self.delta,
            "estimated_delta": self.estimated_delta,
            "top_predictions": [p.to_json() for p in self.top_predictions],
        }


@dataclass(frozen=True)
class VerifyPair:
    id: NodeId
    estimated: float
    actual: float

    @property
    def sign_differs(self) -> bool:
        """The real effect goes the other way than the estimate."""
        return _sign(self.estimated) != _sign(self.actual)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@dataclass(frozen=True)
class VerifyResult:
    parent: str
    pairs: tuple[VerifyPair, ...]
    spearman: float | None
    sign_agreement: float | None = None  # share of pairs whose estimated and actual Δ have the same sign

    @property
    def k(self) -> int:
        return len(self.pairs)

    @property
    def agreeing(self) -> int:
        """How many pairs have the estimate's sign."""
        return sum(not p.sign_differs for p in self.pairs)

    def actual_of(self, node) -> float | None:
        key = str(node)
        return next((p.actual for p in self.pairs if str(p.id) == key), None)

    def to_json(self) -> dict:
        return {
            "k": self.k,
            "parent": self.parent,
            "spearman": self.spearman,
            "sign_agreement": self.sign_agreement,
            "pairs": [{"id": str(p.id), "estimated": p.estimated, "actual": p.actual} for p in self.pairs],
        }
