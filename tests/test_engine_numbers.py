"""The engine's numbers against independent computations: exact linear cases, finite differences, ablations."""

from __future__ import annotations

import pytest
import torch
from helpers import make_model, make_sae, make_tracer
from reference import metric_with_edits, site_activation, tokens_of

from tracer_tui.engine import Tracer
from tracer_tui.core.nodes import NodeId
from tracer_tui.engine.sae_site import ActiveRows

PROMPT = "When Mary and John went to the park, John gave the ball to"


def _sae(tracer, site):
    return tracer.site_by_name[site].sae


def _latent_vector(tracer, node: NodeId, trace):
    """f * d_i for a latent, e for an error node: the node's contribution to its site's activation."""
    sae = _sae(tracer, node.site)
    x = site_activation(tracer.adapter.model, tokens_of(tracer.adapter.model, trace.prompt), node.site, node.position)
    x = x[node.position].reshape(1, -1)
    f = sae.encode(x)
    if node.latent is None:
        return (x - sae.decode(f))[0]
    return f[0, node.latent] * sae.W_dec[node.latent]


def test_exact_when_linear_after_the_site():
    """No LayerNorm, SAE on the last residual site, metric = logit: attribution equals the real ablation Δ."""
    tracer = make_tracer(seed=5, dtype=torch.float64, normalization_type=None)
    trace = tracer.trace(PROMPT, metric="logit", top_k=200)
    model = tracer.adapter.model
    tokens = tokens_of(model, PROMPT)
    last = [n for n in trace.nodes if n.id.site == "blocks.1.hook_resid_post"]
    assert len(last) >= 3
    for node in last:
        vec = _latent_vector(tracer, node.id, trace)
        actual = metric_with_edits(model, tokens, trace.target.position, trace.target.id,
                                   [(node.id.site, node.id.position, -vec)], metric="logit") - trace.target.value
        assert actual == pytest.approx(-node.attribution, abs=1e-9)
        assert trace.ablate([node.id]).delta == pytest.approx(actual, abs=1e-9)


@pytest.mark.parametrize("which", ["latent", "error"])
def test_root_attribution_matches_finite_difference(tracer64, which):
    trace = tracer64.trace(PROMPT, top_k=40, metric="logprob")  # the reference computes log-probs
    model = tracer64.adapter.model
    tokens = tokens_of(model, PROMPT)
    nodes = [n for n in trace.nodes if (n.id.is_error == (which == "error"))][:6]
    assert nodes
    for node in nodes:
        vec = _latent_vector(tracer64, node.id, trace)
        eps = 1e-5
        plus = metric_with_edits(model, tokens, trace.target.position, trace.target.id,
                                 [(node.id.site, node.id.position, eps * vec)])
        minus = metric_with_edits(model, tokens, trace.target.position, trace.target.id,
                                  [(node.id.site, node.id.position, -eps * vec)])
        # d m / d(scale of the node's contribution) at scale 1 is exactly the attribution.
        assert node.attribution == pytest.approx((plus - minus) / (2 * eps), rel=1e-6, abs=1e-9)


def test_expansion_matches_finite_difference(tracer64):
    trace = tracer64.trace(PROMPT, top_k=30)
    model = tracer64.adapter.model
    tokens = tokens_of(model, PROMPT)
    parent = next(n for n in trace.nodes if not n.id.is_error and n.id.site != tracer64.sites[0])
    children = trace.expand(parent.id, top_k=8)[str(parent.id)]
    assert children and all(tracer64.sites.index(c.id.site) < tracer64.sites.index(parent.id.site) for c in children)
    assert all(c.id.position <= parent.id.position for c in children)
    probe = (parent.id.site, parent.id.position, _sae(tracer64, parent.id.site), parent.id.latent)
    for child in children:
        vec = _latent_vector(tracer64, child.id, trace)
        eps = 1e-5
        plus = metric_with_edits(model, tokens, trace.target.position, None,
                                 [(child.id.site, child.id.position, eps * vec)], probe=probe)
        minus = metric_with_edits(model, tokens, trace.target.position, None,
                                  [(child.id.site, child.id.position, -eps * vec)], probe=probe)
        assert child.attribution == pytest.approx((plus - minus) / (2 * eps), rel=1e-6, abs=1e-9)


def test_batched_expansion_equals_single_expansions(tracer64):
    trace = tracer64.trace(PROMPT, top_k=30)
    latents = [n.id for n in trace.nodes if not n.id.is_error and n.id.site != tracer64.sites[0]][:4]
    assert len(latents) >= 2
    batched = trace.expand(latents, top_k=6)
    for nid in latents:
        single = tracer64.trace(PROMPT, top_k=30).expand(nid, top_k=6)[str(nid)]
        got = batched[str(nid)]
        assert [str(n.id) for n in got] == [str(n.id) for n in single]
        assert [n.attribution for n in got] == pytest.approx([n.attribution for n in single], abs=1e-10)


def test_ablation_matches_direct_intervention_and_composes(tracer64):
    # Roots from every site, the first one included; the reference computes log-probs.
    trace = tracer64.trace(PROMPT, top_k=30, upstream="all", metric="logprob")
    model = tracer64.adapter.model
    tokens = tokens_of(model, PROMPT)
    a, b = [n.id for n in trace.nodes if not n.id.is_error and n.id.site == tracer64.sites[0]][:2]
    both = trace.ablate({a: 0.0, b: 0.5})
    edits = [(a.site, a.position, -_latent_vector(tracer64, a, trace)),
             (b.site, b.position, -0.5 * _latent_vector(tracer64, b, trace))]
    direct = metric_with_edits(model, tokens, trace.target.position, trace.target.id, edits)
    assert both.value == pytest.approx(direct, abs=1e-9)
    assert trace.ablate({b: 0.5, a: 0.0}).value == pytest.approx(both.value, abs=1e-12)
    assert both.estimated_delta == pytest.approx(
        -(trace.root_attribution(a) + 0.5 * trace.root_attribution(b)), abs=1e-12)
    assert trace.ablate([]).value == pytest.approx(trace.target.value, abs=1e-12)


def test_ablation_downstream_reencodes_the_later_site(tracer64):
    """Ablating upstream and downstream nodes together: the downstream latent is zero in the patched run."""
    trace = tracer64.trace(PROMPT, top_k=60, upstream="all")  # roots from the first and the last site
    up = next(n.id for n in trace.nodes if n.id.site == tracer64.sites[0] and not n.id.is_error)
    down = next(n.id for n in trace.nodes if n.id.site == tracer64.sites[-1] and not n.id.is_error)
    result = trace.ablate([up, down])
    assert result.value != pytest.approx(trace.ablate([up]).value, abs=1e-9)
    assert result.value != pytest.approx(trace.ablate([down]).value, abs=1e-9)


def test_verify_reports_real_single_ablations(tracer64):
    from scipy.stats import spearmanr

    trace = tracer64.trace(PROMPT, top_k=8)
    result = trace.verify(5)
    assert result.k == 5
    for pair, node in zip(result.pairs, trace.nodes):
        assert pair.id == node.id
        assert pair.estimated == pytest.approx(-node.attribution)
        assert pair.actual == pytest.approx(trace.ablate([node.id]).delta, abs=1e-10)
    expected = spearmanr([p.estimated for p in result.pairs], [p.actual for p in result.pairs]).statistic
    assert result.spearman == pytest.approx(expected)


def test_verify_on_an_expanded_level_uses_the_parent_activation(tracer64):
    trace = tracer64.trace(PROMPT, top_k=30)
    parent = next(n for n in trace.nodes if not n.id.is_error and n.id.site == tracer64.sites[-1])
    trace.expand(parent.id, top_k=5)
    result = trace.verify(3, parent=str(parent.id))
    model = tracer64.adapter.model
    tokens = tokens_of(model, PROMPT)
    probe = (parent.id.site, parent.id.position, _sae(tracer64, parent.id.site), parent.id.latent)
    for pair in result.pairs:
        vec = _latent_vector(tracer64, pair.id, trace)
        ablated = metric_with_edits(model, tokens, trace.target.position, None,
                                    [(pair.id.site, pair.id.position, -vec)], probe=probe)
        assert pair.actual == pytest.approx(ablated - parent.activation, abs=1e-9)


def test_fast_sparse_projection_equals_decoder_vjp(tracer64):
    trace = tracer64.trace(PROMPT, top_k=10)
    site = tracer64.saes[1]
    st = trace._clean.sites[1]
    g = torch.randn(3, *st.err.shape, dtype=torch.float64)
    fast = site.latent_grads(g, st.f, st.active)
    slow = site.latent_grads(g, st.f, ActiveRows(st.pos_idx, st.lat_idx, None, []))  # the decode VJP path
    assert torch.allclose(fast, slow, atol=1e-12)
    assert torch.allclose(site.reconstruct(st.f, st.active), site.decode(st.f), atol=1e-12)


def test_attention_hook_z_sae_attributes_by_finite_difference():
    """SAEs on attn hook_z (heads flattened) go through the same path; checked against a finite difference."""
    model = make_model(seed=2, dtype=torch.float64)
    d_z = model.cfg.n_heads * model.cfg.d_head
    sae_z = make_sae("blocks.1.attn.hook_z", d_z, seed=9, dtype=torch.float64, reshape_activations="hook_z")
    sae_r = make_sae("blocks.0.hook_resid_pre", model.cfg.d_model, seed=10, dtype=torch.float64)
    tracer = Tracer.from_models(model, [sae_z, sae_r])
    assert tracer.sites == ["blocks.0.hook_resid_pre", "blocks.1.attn.hook_z"]
    trace = tracer.trace(PROMPT, top_k=40, metric="logprob")
    tokens = tokens_of(model, PROMPT)
    node = next(n for n in trace.nodes if n.id.site.endswith("hook_z") and not n.id.is_error)
    x = site_activation(model, tokens, node.id.site, node.id.position)[node.id.position].reshape(1, -1)
    vec = sae_z.encode(x)[0, node.id.latent] * sae_z.W_dec[node.id.latent]
    eps = 1e-5
    plus = metric_with_edits(model, tokens, trace.target.position, trace.target.id,
                             [(node.id.site, node.id.position, eps * vec)])
    minus = metric_with_edits(model, tokens, trace.target.position, trace.target.id,
                              [(node.id.site, node.id.position, -eps * vec)])
    assert node.attribution == pytest.approx((plus - minus) / (2 * eps), rel=1e-6)
    children = trace.expand(node.id, top_k=3)[str(node.id)]
    assert all(c.id.site == "blocks.0.hook_resid_pre" for c in children)
