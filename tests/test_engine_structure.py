"""How the engine computes: each SAE encoded once per trace, one batched backward per expansion, paging."""

from __future__ import annotations

import torch

PROMPT = "When Mary and John went to the park, John gave the ball to"


def test_each_sae_is_encoded_once_per_trace(tracer, monkeypatch):
    calls = {s.site: 0 for s in tracer.saes}
    for s in tracer.saes:
        original = s.sae.encode

        def counting(x, _orig=original, _site=s.site):
            calls[_site] += 1
            return _orig(x)

        monkeypatch.setattr(s.sae, "encode", counting)
    tracer.trace(PROMPT)
    assert calls == {s.site: 1 for s in tracer.saes}


def test_expansion_of_many_nodes_is_one_backward_pass_per_site(tracer, monkeypatch):
    """Nodes of a site share one batched backward through the model (after one through their encoder rows),
    never a backward per node."""
    trace = tracer.trace(PROMPT, top_k=30, upstream="all")
    latents = [n.id for n in trace.nodes if not n.id.is_error and n.id.site != tracer.sites[0]][:6]
    n_sites = len({n.site for n in latents})
    assert len(latents) >= 3 and n_sites >= 2
    grad_calls = []
    original = torch.autograd.grad

    def counting(*args, **kwargs):
        grad_calls.append(kwargs.get("is_grads_batched", False))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", counting)
    trace.expand(latents)
    assert grad_calls == [False, True] * n_sites


def test_trace_truncates_after_the_target_position(tracer):
    trace = tracer.trace(PROMPT, position=5)
    assert len(trace.tokens) == 6
    assert trace.target.id == tracer.adapter.tokenize(PROMPT)[0, 6].item()  # the prompt's own next token
    assert all(n.id.position <= 5 for n in trace.nodes)


def test_bos_nodes_excluded_unless_asked(tracer):
    # Pooled roots: the last site (the nearest level) is after every block, so BOS there cannot reach the target.
    trace = tracer.trace(PROMPT, top_k=500, upstream="all")
    assert all(n.id.position != 0 for n in trace.nodes)
    with_bos = tracer.trace(PROMPT, top_k=500, include_bos=True, upstream="all")
    assert any(n.id.position == 0 for n in with_bos.nodes)


def test_min_attr_and_paging(tracer):
    trace = tracer.trace(PROMPT, top_k=5)
    threshold = abs(trace.nodes[2].attribution)
    kept = tracer.trace(PROMPT, top_k=50, min_attr=threshold)
    assert all(abs(n.attribution) > threshold for n in kept.nodes)
    assert len(kept.nodes) == 2
    first = trace.nodes
    parent = next(n for n in first if not n.id.is_error and n.id.site != tracer.sites[0])
    page1 = trace.expand(parent.id, top_k=3)[str(parent.id)]
    page2 = trace.expand(parent.id, top_k=3, offset=3)[str(parent.id)]
    both = tracer.trace(PROMPT, top_k=5).expand(parent.id, top_k=6)[str(parent.id)]
    assert [str(n.id) for n in page1 + page2] == [str(n.id) for n in both]
    assert len(trace.children[str(parent.id)]) == 6
    assert trace.totals[str(parent.id)] >= 6


def test_bfloat16_trace_agrees_with_float32(tracer):
    from helpers import make_tracer

    low = make_tracer(dtype=torch.bfloat16).trace(PROMPT, top_k=5)
    full = tracer.trace(PROMPT, top_k=5)
    assert low.target.id == full.target.id
    assert abs(low.target.value - full.target.value) < 0.05
    assert abs(low.nodes[0].attribution - full.root_attribution(low.nodes[0].id)) < 0.1


def test_linear_decoders_are_recognised_by_their_sae_lens_architecture():
    from helpers import make_sae
    from sae_lens import StandardSAE, StandardSAEConfig, TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    from tracer_tui.engine.sae_site import SiteSAE

    class Unknown(StandardSAEConfig):  # an architecture the engine does not know: decode goes through SAE-Lens
        @classmethod
        def architecture(cls) -> str:
            return "unknown"

    meta = SAEMetadata(hook_name="blocks.0.hook_resid_pre")
    plain = make_sae("blocks.0.hook_resid_pre", 16, seed=1)
    unknown = StandardSAE(Unknown(d_in=16, d_sae=48, metadata=meta))
    unknown.load_state_dict(plain.state_dict())
    topk = TopKSAE(TopKSAEConfig(d_in=16, d_sae=48, k=4, metadata=meta))
    site = lambda sae: SiteSAE(sae, site="blocks.0.hook_resid_pre", source="test")  # noqa: E731
    assert site(plain).linear_decoder and site(topk).linear_decoder and not site(unknown).linear_decoder
    assert not site(make_sae("blocks.0.hook_resid_pre", 16, normalize_activations="layer_norm")).linear_decoder

    # Both paths give the same latent gradients: the sparse rows and SAE-Lens's own decode.
    x = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    g = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    fast, slow = site(plain), site(unknown)
    f = fast.encode(x)
    assert torch.allclose(fast.latent_grads(g, f, fast.active_rows(f)), slow.latent_grads(g, f, slow.active_rows(f)),
                          atol=1e-5)
