"""Levels: a node's children come from the nearest upstream level (docs/attribution.md, "Levels").

Membership is checked on a tiny model with SAEs of every kind; the numbers against independent computations
(raw TransformerLens hooks and autograd, finite differences), never against the engine's own code.
"""

from __future__ import annotations

import pytest
import torch
from helpers import make_model, make_sae
from reference import metric_with_edits, site_activation, tokens_of

from tracer_tui.core.errors import TracerError
from tracer_tui.core.nodes import TARGET, NodeId, is_residual_site
from tracer_tui.engine import Tracer

PROMPT = "When Mary and John went to the park, John gave the ball to"

MIXED = ["blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_mlp_out", "blocks.1.hook_resid_pre",
         "blocks.1.attn.hook_z", "blocks.1.hook_mlp_out"]
# Each site's level under "nearest", written out by hand from the definition.
EXPECTED = {
    TARGET: ["blocks.1.hook_resid_pre", "blocks.1.attn.hook_z", "blocks.1.hook_mlp_out"],
    "blocks.1.hook_mlp_out": ["blocks.1.hook_resid_pre", "blocks.1.attn.hook_z"],
    "blocks.1.attn.hook_z": ["blocks.1.hook_resid_pre"],
    "blocks.1.hook_resid_pre": ["blocks.0.hook_resid_pre", "blocks.0.hook_attn_out", "blocks.0.hook_mlp_out"],
    "blocks.0.hook_mlp_out": ["blocks.0.hook_resid_pre", "blocks.0.hook_attn_out"],
    "blocks.0.hook_attn_out": ["blocks.0.hook_resid_pre"],
    "blocks.0.hook_resid_pre": [],
}


def _tracer(sites, seed=4):
    model = make_model(seed=seed, dtype=torch.float64)
    d_z = model.cfg.n_heads * model.cfg.d_head
    saes = []
    for i, site in enumerate(reversed(sites)):  # given out of order: the tracer sorts them in forward order
        extra = {"reshape_activations": "hook_z"} if site.endswith("hook_z") else {}
        d_in = d_z if site.endswith("hook_z") else model.cfg.d_model
        saes.append(make_sae(site, d_in, seed=seed + i, dtype=torch.float64, **extra))
    return Tracer.from_models(model, saes)


@pytest.fixture(scope="module")
def mixed():
    return _tracer(MIXED)


@pytest.fixture(scope="module")
def no_resid():
    return _tracer([s for s in MIXED if not is_residual_site(s)], seed=6)


def _latent_at(trace, site):
    """A node at ``site`` that is active somewhere after BOS, with the largest activation."""
    st = trace._clean.sites[trace.tracer.sites.index(site)]
    f = st.f.clone()
    f[0] = 0
    pos, lat = divmod(int(f.argmax()), f.shape[1])
    return NodeId(site, lat, pos)


def test_residual_sites():
    assert all(is_residual_site(f"blocks.2.{h}") for h in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post"))
    assert not any(is_residual_site(s) for s in ("blocks.2.hook_attn_out", "blocks.2.attn.hook_z",
                                                 "blocks.2.hook_mlp_out", "blocks.2.mlp.hook_post"))


def test_level_membership_for_mixed_site_kinds(mixed):
    assert mixed.sites == MIXED
    trace = mixed.trace(PROMPT, top_k=1000)
    assert trace.upstream == "nearest"
    assert trace.level_sites(TARGET) == EXPECTED[TARGET]
    assert {n.id.site for n in trace.nodes} == set(EXPECTED[TARGET])  # every site of the level, no other
    for site in MIXED:
        node = _latent_at(trace, site)
        assert trace.level_sites(node) == EXPECTED[site]
        assert trace.has_upstream(node) == bool(EXPECTED[site])
        if not EXPECTED[site]:
            continue
        children = trace.expand(node, top_k=1000)[str(node)]
        assert {c.id.site for c in children} == set(EXPECTED[site]), site
        assert all(c.id.position <= node.position for c in children)
        # The share's denominator is this level's total, not every upstream site's.
        assert trace.abs_totals[str(node)] == pytest.approx(sum(abs(c.attribution) for c in children))


def test_no_residual_sae_means_every_upstream_site(no_resid):
    sites = no_resid.sites
    assert sites == ["blocks.0.hook_attn_out", "blocks.0.hook_mlp_out", "blocks.1.attn.hook_z",
                     "blocks.1.hook_mlp_out"]
    trace = no_resid.trace(PROMPT, top_k=1000)
    assert trace.level_sites(TARGET) == sites
    node = _latent_at(trace, "blocks.1.hook_mlp_out")
    assert trace.level_sites(node) == sites[:3]
    children = trace.expand(node, top_k=1000)[str(node)]
    assert {c.id.site for c in children} == set(sites[:3])
    assert not trace.has_upstream(_latent_at(trace, sites[0]))


def test_unknown_upstream_mode_is_refused(mixed):
    with pytest.raises(TracerError, match="upstream"):
        mixed.trace(PROMPT, upstream="nearby")


# ---- the numbers, against independent computations -----------------------------------------------------------
def _reference_attributions(tracer, prompt, parent: NodeId | None, metric: str = "logprob"):
    """Attribution of every node of every site before the parent's (the target: all sites), by raw autograd.

    Returns {NodeId: A}: A = f * (g . d_i) for latents, e . g for error nodes, g = d metric / d x_site.
    """
    model = tracer.adapter.model
    tokens = tokens_of(model, prompt)
    acts = {}

    def keep(act, hook):
        if not act.requires_grad:  # the model's weights are frozen: the first site becomes the graph's leaf
            act = act.detach().requires_grad_(True)
        acts[hook.name] = act
        return act

    with torch.enable_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[(s, keep) for s in tracer.sites])[0, -1]
        target = int(logits.argmax())
        if parent is None:
            value = (torch.log_softmax(logits, -1)[target] if metric == "logprob"
                     else logits[target] - logits.mean())  # logit-mean
            upstream = tracer.sites
        else:
            sae = tracer.site_by_name[parent.site].sae
            value = sae.encode(acts[parent.site][0, parent.position].reshape(1, -1))[0, parent.latent]
            upstream = tracer.sites[: tracer.sites.index(parent.site)]
        grads = torch.autograd.grad(value, [acts[s] for s in upstream], allow_unused=True)
    out = {}
    for site, g in zip(upstream, grads):
        sae = tracer.site_by_name[site].sae
        x = acts[site][0].detach().reshape(tokens.shape[1], -1)
        g = torch.zeros_like(x) if g is None else g[0].reshape(x.shape)
        f = sae.encode(x)
        err = x - sae.decode(f)
        for p in range(x.shape[0]):
            out[NodeId(site, None, p)] = float(err[p] @ g[p])
            for i in f[p].nonzero().flatten().tolist():
                out[NodeId(site, i, p)] = float(f[p, i] * (g[p] @ sae.W_dec[i]))
    return out


def _top(reference, sites, max_pos, k):
    """The pre-change ranking: top |A| over the given sites, positions 1..max_pos (BOS dropped), A != 0."""
    pool = [(abs(a), nid) for nid, a in reference.items()
            if nid.site in sites and 0 < nid.position <= max_pos and a != 0]
    return [nid for _, nid in sorted(pool, key=lambda t: -t[0])[:k]]


@pytest.mark.parametrize("metric", ["logprob", "logit-mean"])
@pytest.mark.parametrize("upstream", ["all", "nearest"])
def test_rankings_match_an_independent_autograd(mixed, upstream, metric):
    """Root and one expansion: "all" pools every upstream site (the behaviour before levels), "nearest" the level."""
    trace = mixed.trace(PROMPT, top_k=12, upstream=upstream, metric=metric)
    assert trace.upstream == upstream
    ref = _reference_attributions(mixed, PROMPT, None, metric)
    sites = mixed.sites if upstream == "all" else EXPECTED[TARGET]
    assert [n.id for n in trace.nodes] == _top(ref, sites, trace.target.position, 12)
    for n in trace.nodes:
        assert n.attribution == pytest.approx(ref[n.id], rel=1e-9, abs=1e-12)

    parent = _latent_at(trace, "blocks.1.hook_mlp_out")
    children = trace.expand(parent, top_k=12)[str(parent)]
    ref = _reference_attributions(mixed, PROMPT, parent)
    sites = mixed.sites[:MIXED.index(parent.site)] if upstream == "all" else EXPECTED[parent.site]
    assert [c.id for c in children] == _top(ref, sites, parent.position, 12)
    for c in children:
        assert c.attribution == pytest.approx(ref[c.id], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("parent_site", ["blocks.1.hook_resid_pre", "blocks.1.attn.hook_z"])
def test_level_attributions_are_finite_differences_of_the_parent(mixed, parent_site):
    """Each child's attribution to the parent's activation is the slope of a real intervention at the child."""
    model = mixed.adapter.model
    tokens = tokens_of(model, PROMPT)
    trace = mixed.trace(PROMPT, top_k=5)
    parent = _latent_at(trace, parent_site)
    children = [c for c in trace.expand(parent, top_k=6)[str(parent)]]
    assert children
    probe = (parent.site, parent.position, mixed.site_by_name[parent.site].sae, parent.latent)
    eps = 1e-6
    for c in children:
        sae = mixed.site_by_name[c.id.site].sae
        x = site_activation(model, tokens, c.id.site, c.id.position)[c.id.position].reshape(1, -1)
        f = sae.encode(x)
        vec = (x - sae.decode(f))[0] if c.id.is_error else f[0, c.id.latent] * sae.W_dec[c.id.latent]
        plus = metric_with_edits(model, tokens, trace.target.position, None, [(c.id.site, c.id.position, eps * vec)],
                                 probe=probe)
        minus = metric_with_edits(model, tokens, trace.target.position, None,
                                  [(c.id.site, c.id.position, -eps * vec)], probe=probe)
        assert c.attribution == pytest.approx((plus - minus) / (2 * eps), rel=1e-5, abs=1e-9)
