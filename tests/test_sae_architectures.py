"""Every SAE-Lens architecture, input normalisation and hook shape: traced correctly, or refused at load with one
line. Numbers are checked against SAE-Lens's own encode/decode (the reference) with raw TransformerLens hooks:
a latent's attribution is the central finite difference of scaling its written vector, and its zero-ablation
moves the metric exactly as removing that vector does."""

from __future__ import annotations

import pytest
import torch

from helpers import make_model
from reference import metric_with_edits, site_activation, tokens_of
from tracer_tui.core.errors import TracerError
from tracer_tui.engine import Tracer

PROMPT = "When Mary and John went to the park, John gave the ball to"
EPS = 1e-5


def randomise(sae, seed: int):
    """Random weights with about a third of latents active (float64)."""
    g = torch.Generator().manual_seed(seed)
    d_in = sae.cfg.d_in
    with torch.no_grad():
        for name, p in sae.named_parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) / d_in**0.5)
            elif name == "threshold":
                p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 0.1)
            elif name == "b_dec":
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.05)
            elif name == "r_mag":
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1)
            else:  # encoder biases
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.1 - 0.2)
    return sae


def build(arch: str, site: str, d_in: int, seed: int = 0, **extra):
    import sae_lens
    from sae_lens.saes.sae import SAEMetadata

    classes = {
        "standard": ("StandardSAE", {}), "topk": ("TopKSAE", {"k": 6}), "abstopk": ("AbsTopKSAE", {"k": 6}),
        "jumprelu": ("JumpReLUSAE", {}), "gated": ("GatedSAE", {}),
        "matching_pursuit": ("MatchingPursuitSAE", {"residual_threshold": 0.5, "max_iterations": 6}),
        "temporal": ("TemporalSAE", {"n_heads": 1, "bottleneck_factor": 1}),
        "transcoder": ("Transcoder", {"d_out": d_in, "apply_b_dec_to_input": False}),
        "skip_transcoder": ("SkipTranscoder", {"d_out": d_in, "apply_b_dec_to_input": False}),
        "jumprelu_transcoder": ("JumpReLUTranscoder", {"d_out": d_in, "apply_b_dec_to_input": False}),
    }
    cls_name, kw = classes[arch]
    meta = extra.pop("metadata", None) or SAEMetadata(hook_name=site, model_name="tiny-0")
    cfg = getattr(sae_lens, cls_name + "Config")(d_in=d_in, d_sae=48, dtype="float64", metadata=meta,
                                                  **{**kw, **extra})
    return randomise(getattr(sae_lens, cls_name)(cfg), 1000 + seed)


def written_vector(sae, x, latent, flat_shape=None):
    """What the latent writes at x, from SAE-Lens's own encode/decode (each decode after a fresh encode)."""
    x = x.reshape(1, -1)
    f = sae.encode(x)
    a = sae.decode(f)
    f2 = f.clone()
    f2[0, latent] = 0
    sae.encode(x)
    b = sae.decode(f2)
    return (a - b)[0]


def check_latents(model, sae, trace, n: int = 3, ablate: bool = True):
    """Top latents of ``sae``'s site: attribution = finite difference, ablation = removing the written vector."""
    tokens = tokens_of(model, PROMPT)
    pos, tid = trace.target.position, trace.target.id
    nodes = [nd for nd in trace.nodes if nd.id.site == sae.cfg.metadata.hook_name and not nd.id.is_error][:n]
    assert nodes, "no latent of this SAE ranked"
    for node in nodes:
        x = site_activation(model, tokens, node.id.site, pos)[node.id.position]
        vec = written_vector(sae, x, node.id.latent)
        plus = metric_with_edits(model, tokens, pos, tid, [(node.id.site, node.id.position, EPS * vec)],
                                 metric=trace.target.metric)
        minus = metric_with_edits(model, tokens, pos, tid, [(node.id.site, node.id.position, -EPS * vec)],
                                  metric=trace.target.metric)
        assert node.attribution == pytest.approx((plus - minus) / (2 * EPS), rel=1e-5, abs=1e-8)
        if ablate:
            removed = metric_with_edits(model, tokens, pos, tid, [(node.id.site, node.id.position, -vec)],
                                        metric=trace.target.metric)
            assert trace.ablate([node.id]).delta == pytest.approx(removed - trace.clean_value, rel=1e-6, abs=1e-9)
    return nodes


@pytest.fixture(scope="module")
def model():
    return make_model(seed=0, dtype=torch.float64)


ARCHS = ["standard", "topk", "abstopk", "jumprelu", "gated", "matching_pursuit"]
NORMS = ["none", "layer_norm", "constant_norm_rescale", "expected_average_only_in"]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("arch", ARCHS)
def test_architecture_and_normalisation_trace_ablate_verify(model, arch, norm):
    site = "blocks.1.hook_resid_pre"
    sae = build(arch, site, model.cfg.d_model, normalize_activations=norm)
    first = build("standard", "blocks.0.hook_resid_pre", model.cfg.d_model, seed=3)
    tracer = Tracer.from_models(model, [sae, first])
    trace = tracer.trace(PROMPT, top_k=60, metric="logprob")
    nodes = check_latents(model, sae, trace)
    # Nothing leaks between calls: verify, expand and a second trace give the same numbers.
    trace.verify(k=3)
    trace.expand(nodes[0].id, top_k=3)
    again = tracer.trace(PROMPT, top_k=60, metric="logprob")
    assert [(str(a.id), a.attribution) for a in again.nodes] == [(str(b.id), b.attribution)
                                                                  for b in trace.nodes[: len(again.nodes)]]


@pytest.mark.parametrize("norm", ["layer_norm", "constant_norm_rescale"])
def test_normalised_latent_expansion_matches_finite_difference(model, norm):
    """A child's attribution to a normalised latent's activation (the parent's encode is a function of x)."""
    parent_site, child_site = "blocks.1.hook_resid_pre", "blocks.0.hook_resid_pre"
    parent = build("topk", parent_site, model.cfg.d_model, normalize_activations=norm)
    child = build("standard", child_site, model.cfg.d_model, seed=4, normalize_activations=norm)
    tracer = Tracer.from_models(model, [parent, child])
    trace = tracer.trace(PROMPT, top_k=60, metric="logprob")
    node = next(nd for nd in trace.nodes if nd.id.site == parent_site and not nd.id.is_error)
    kids = [k for k in trace.expand(node.id, top_k=3)[str(node.id)] if not k.id.is_error]
    assert kids
    tokens = tokens_of(model, PROMPT)
    for kid in kids:
        x = site_activation(model, tokens, child_site, trace.target.position)[kid.id.position]
        vec = written_vector(child, x, kid.id.latent)
        probe = (parent_site, node.id.position, parent, node.id.latent)
        plus = metric_with_edits(model, tokens, trace.target.position, 0, [(child_site, kid.id.position, EPS * vec)],
                                 probe=probe)
        minus = metric_with_edits(model, tokens, trace.target.position, 0,
                                  [(child_site, kid.id.position, -EPS * vec)], probe=probe)
        assert kid.attribution == pytest.approx((plus - minus) / (2 * EPS), rel=1e-4, abs=1e-7)
    trace.verify(k=2, parent=str(node.id))


def test_decoder_norm_rescaled_topk(model):
    sae = build("topk", "blocks.1.hook_resid_pre", model.cfg.d_model, rescale_acts_by_decoder_norm=True)
    trace = Tracer.from_models(model, [sae]).trace(PROMPT, top_k=40, metric="logprob")
    check_latents(model, sae, trace)


@pytest.mark.parametrize("reshape", ["hook_z", "none"])
@pytest.mark.parametrize("hook", ["attn.hook_z", "attn.hook_q", "attn.hook_k", "attn.hook_v"])
def test_per_head_hooks_are_flattened(model, hook, reshape):
    site = f"blocks.1.{hook}"
    d = model.cfg.n_heads * model.cfg.d_head
    if reshape == "hook_z" and hook != "attn.hook_z":
        pytest.skip("SAE-Lens only reshapes hook_z")
    sae = build("standard", site, d, reshape_activations=reshape)
    trace = Tracer.from_models(model, [sae]).trace(PROMPT, top_k=40, metric="logprob")
    check_latents(model, sae, trace)
    trace.verify(k=3)


def test_hook_mlp_in_sorts_before_resid_post_and_traces():
    model = make_model(seed=1, dtype=torch.float64)
    model.set_use_hook_mlp_in(True)
    saes = [build("standard", "blocks.0.hook_resid_post", 16, seed=1), build("standard", "blocks.0.hook_mlp_in", 16),
            build("standard", "blocks.0.hook_resid_mid", 16, seed=2)]
    tracer = Tracer.from_models(model, saes)
    assert tracer.sites == ["blocks.0.hook_resid_mid", "blocks.0.hook_mlp_in", "blocks.0.hook_resid_post"]
    trace = tracer.trace(PROMPT, top_k=60, metric="logprob", upstream="all")
    check_latents(model, saes[1], trace)


def test_site_order_knows_every_block_hook():
    from tracer_tui.core.nodes import site_order_key

    order = ["hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.hook_attn_in",
             "blocks.0.hook_q_input", "blocks.0.ln1.hook_scale", "blocks.0.ln1.hook_normalized",
             "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v", "blocks.0.attn.hook_rot_q",
             "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
             "blocks.0.attn.hook_result", "blocks.0.ln1_post.hook_normalized", "blocks.0.hook_attn_out",
             "blocks.0.hook_resid_mid", "blocks.0.hook_mlp_in", "blocks.0.ln2.hook_scale",
             "blocks.0.ln2.hook_normalized", "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_pre_linear",
             "blocks.0.mlp.hook_post", "blocks.0.ln2_post.hook_normalized", "blocks.0.hook_mlp_out",
             "blocks.0.hook_resid_post", "blocks.1.hook_resid_pre", "ln_final.hook_scale",
             "ln_final.hook_normalized"]
    assert sorted(reversed(order), key=lambda s: site_order_key(s, 2)) == order


@pytest.mark.parametrize("site", ["ln_final.hook_normalized", "blocks.0.ln2.hook_normalized",
                                  "blocks.0.mlp.hook_post", "blocks.0.attn.hook_z"])
def test_nodes_sit_at_their_own_positions(model, site):
    d = model.cfg.d_mlp if "mlp" in site else model.cfg.d_model
    sae = build("standard", site, d)
    trace = Tracer.from_models(model, [sae]).trace(PROMPT, top_k=60, metric="logprob")
    positions = {nd.id.position for nd in trace.nodes}
    assert len(positions) > 1 or site.startswith("ln_final")
    nodes = check_latents(model, sae, trace, n=3)
    if site.startswith("ln_final"):
        # Only the target position reaches the metric through ln_final; every position is still labelled right.
        assert all(nd.id.position == trace.target.position for nd in nodes)
        assert len(trace.activation_profile(nodes[0].id)) == trace.target.position + 1


def test_hooks_that_never_fire_are_refused(model):
    with pytest.raises(TracerError, match=r"^hook blocks.0.hook_mlp_in never fires on this model: .*use_hook_mlp_in"):
        Tracer.from_models(model, [build("standard", "blocks.0.hook_mlp_in", 16)])
    with pytest.raises(TracerError, match=r"^hook blocks.0.attn.hook_result never fires on this model: .*use_attn_result"):
        Tracer.from_models(model, [build("standard", "blocks.0.attn.hook_result", 32)])
    with pytest.raises(TracerError, match=r"^hook blocks.0.hook_attn_in never fires on this model: .*use_attn_in"):
        Tracer.from_models(model, [build("standard", "blocks.0.hook_attn_in", 32)])
    attn_only = make_model(seed=0, dtype=torch.float64, attn_only=True)
    with pytest.raises(TracerError, match=r"^hook blocks.0.hook_mlp_out never fires on this model: .*attention-only"):
        Tracer.from_models(attn_only, [build("standard", "blocks.0.hook_mlp_out", 16)])


@pytest.mark.parametrize("arch,pattern", [
    ("temporal", r"is a TemporalSAE: not supported"),
])
def test_refused_architectures_say_why_in_one_line(model, arch, pattern):
    with pytest.raises(TracerError, match=pattern) as err:
        Tracer.from_models(model, [build(arch, "blocks.1.hook_resid_pre", model.cfg.d_model)])
    assert "\n" not in str(err.value)


def test_per_head_sae_is_refused_clearly(model):
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name="blocks.1.attn.hook_z", hook_head_index=1, model_name="tiny-0")
    sae = build("standard", "blocks.1.attn.hook_z", model.cfg.d_head, metadata=meta)
    with pytest.raises(TracerError, match=r"reads only head 1 of blocks.1.attn.hook_z \(hook_head_index\)"):
        Tracer.from_models(model, [sae])


def test_hook_that_fires_several_times_is_refused(model):
    with pytest.raises(TracerError, match=r"^hook blocks.0.ln1.hook_normalized fires 3 times per forward pass"):
        Tracer.from_models(model, [build("standard", "blocks.0.ln1.hook_normalized", 16)])


def test_attention_pattern_sae_is_refused(model):
    with pytest.raises(TracerError, match="not one vector per position"):
        Tracer.from_models(model, [build("standard", "blocks.1.attn.hook_pattern", 4)])


def test_sae_of_another_model_warns(model):
    from sae_lens.saes.sae import SAEMetadata

    other = build("standard", "blocks.1.hook_resid_pre", 16, metadata=SAEMetadata(
        hook_name="blocks.1.hook_resid_pre", model_name="pythia-70m"))
    mine = build("standard", "blocks.0.hook_resid_pre", 16)
    tracer = Tracer.from_models(model, [other, mine])
    assert len(tracer.warnings) == 1
    assert "trained on model 'pythia-70m', not the loaded 'tiny-0'" in tracer.warnings[0]


def test_callers_sae_is_left_alone(model):
    """The engine normalises on its own copy: the caller's SAE keeps SAE-Lens's behaviour and state."""
    sae = build("topk", "blocks.1.hook_resid_pre", 16, normalize_activations="layer_norm")
    x = torch.randn(3, 16, dtype=torch.float64)
    before = sae.decode(sae.encode(x))
    trace = Tracer.from_models(model, [sae]).trace(PROMPT, top_k=10)
    trace.verify(k=2)
    assert torch.allclose(sae.decode(sae.encode(x)), before)


# ---- transcoders ---------------------------------------------------------------------------------------
TC_IN, TC_OUT = "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"


def build_transcoder(arch, seed=0, **extra):
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=TC_IN, hook_name_out=TC_OUT, model_name="tiny-0")
    return build(arch, TC_IN, 16, seed=seed, metadata=meta, **extra)


@pytest.mark.parametrize("norm", ["none", "layer_norm"])
@pytest.mark.parametrize("arch", ["transcoder", "skip_transcoder", "jumprelu_transcoder"])
def test_transcoder_latents_write_at_their_output_hook(model, arch, norm):
    """f = encode(x_in) at the input hook, f * d_i written at the output hook: attribution = finite difference of
    that vector at the output, ablation = removing it there; the error is out - (decode(f) + W_skip x_in)."""
    tc = build_transcoder(arch, normalize_activations=norm)
    upstream = build("standard", "blocks.0.hook_resid_pre", 16, seed=5)
    later = build("standard", "blocks.1.hook_resid_post", 16, seed=6)
    tracer = Tracer.from_models(model, [later, tc, upstream])
    assert tracer.sites == ["blocks.0.hook_resid_pre", TC_OUT, "blocks.1.hook_resid_post"]
    trace = tracer.trace(PROMPT, top_k=80, metric="logprob", upstream="all")
    tokens = tokens_of(model, PROMPT)
    pos, tid = trace.target.position, trace.target.id
    nodes = [nd for nd in trace.nodes if nd.id.site == TC_OUT and not nd.id.is_error][:3]
    assert nodes
    for node in nodes:
        x_in = site_activation(model, tokens, TC_IN, pos)[node.id.position].reshape(1, -1)
        f = tc.encode(x_in)[0]
        assert trace.activation(node.id) == pytest.approx(float(f[node.id.latent]), rel=1e-9)
        vec = f[node.id.latent] * tc.W_dec[node.id.latent]
        plus = metric_with_edits(model, tokens, pos, tid, [(TC_OUT, node.id.position, EPS * vec)])
        minus = metric_with_edits(model, tokens, pos, tid, [(TC_OUT, node.id.position, -EPS * vec)])
        assert node.attribution == pytest.approx((plus - minus) / (2 * EPS), rel=1e-5, abs=1e-8)
        removed = metric_with_edits(model, tokens, pos, tid, [(TC_OUT, node.id.position, -vec)])
        result = trace.ablate([node.id])
        assert result.delta == pytest.approx(removed - trace.clean_value, rel=1e-6, abs=1e-9)
        assert result.delta == pytest.approx(result.estimated_delta, rel=0.5, abs=1e-3)  # first order
    # The error node at the output site is out - (decode(f) + W_skip x_in).
    p = nodes[0].id.position
    x_in = site_activation(model, tokens, TC_IN, pos)[p].reshape(1, -1)
    out = site_activation(model, tokens, TC_OUT, pos)[p]
    recon = tc(x_in)[0]  # SAE-Lens's forward: decode, plus the skip for skip transcoders
    assert trace.activation(f"{TC_OUT}:error@{p}") == pytest.approx(float((out - recon).norm()), rel=1e-9)
    # Expanding a transcoder latent attributes its activation (read at the input hook) to the level upstream.
    node = nodes[0]
    assert trace.level_sites(str(node.id)) == ["blocks.0.hook_resid_pre"]
    kids = [k for k in trace.expand(node.id, top_k=3)[str(node.id)] if not k.id.is_error]
    assert kids
    for kid in kids:
        x = site_activation(model, tokens, kid.id.site, pos)[kid.id.position].reshape(1, -1)
        vec = upstream.encode(x)[0, kid.id.latent] * upstream.W_dec[kid.id.latent]
        probe = (TC_IN, node.id.position, tc, node.id.latent)
        plus = metric_with_edits(model, tokens, pos, 0, [(kid.id.site, kid.id.position, EPS * vec)], probe=probe)
        minus = metric_with_edits(model, tokens, pos, 0, [(kid.id.site, kid.id.position, -EPS * vec)], probe=probe)
        assert kid.attribution == pytest.approx((plus - minus) / (2 * EPS), rel=1e-4, abs=1e-7)
    verified = trace.verify(k=3, parent=str(node.id))
    kid = kids[0]
    x = site_activation(model, tokens, kid.id.site, pos)[kid.id.position].reshape(1, -1)
    vec = upstream.encode(x)[0, kid.id.latent] * upstream.W_dec[kid.id.latent]
    probe = (TC_IN, node.id.position, tc, node.id.latent)
    real = metric_with_edits(model, tokens, pos, 0, [(kid.id.site, kid.id.position, -vec)], probe=probe)
    assert verified.actual_of(kid.id) == pytest.approx(real - trace.activation(node.id), rel=1e-6, abs=1e-9)
    trace.verify(k=5)


def test_transcoder_without_output_hook_is_refused(model):
    tc = build("transcoder", TC_IN, 16)
    with pytest.raises(TracerError, match=r"is a transcoder \(transcoder\) reading .* does not say which hook it "
                                          r"writes"):
        Tracer.from_models(model, [tc])


def test_transcoder_input_width_is_checked(model):
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name="blocks.0.mlp.hook_post", hook_name_out=TC_OUT, model_name="tiny-0")
    tc = build("transcoder", "blocks.0.mlp.hook_post", 16, metadata=meta)
    with pytest.raises(TracerError, match=r"expects d_in=16 at 'blocks.0.mlp.hook_post', but the model's activation "
                                          r"there has width 32"):
        Tracer.from_models(model, [tc])


def test_contrast_and_steer_refuse_what_they_do_not_support_yet(model):
    tracer = Tracer.from_models(model, [build_transcoder("skip_transcoder")])
    with pytest.raises(TracerError, match="^contrast does not support transcoders yet"):
        tracer.contrast(PROMPT, completions=[" Mary"])
    with pytest.raises(TracerError, match="^steer does not support transcoders yet"):
        tracer.steer(PROMPT, f"{TC_OUT}:0")
    normed = Tracer.from_models(model, [build("topk", "blocks.1.hook_resid_pre", 16, normalize_activations="layer_norm")])
    with pytest.raises(TracerError, match="^contrast does not support SAEs that normalise their input yet"):
        normed.contrast(PROMPT, completions=[" Mary"])


def test_unfolded_whitening_and_per_head_transcoders_are_refused(model):
    sae = build("standard", "blocks.1.hook_resid_pre", 16, normalize_activations="covariance_whitening")
    with pytest.raises(TracerError, match=r"normalize_activations='covariance_whitening' that is not folded"):
        Tracer.from_models(model, [sae])
    from sae_lens.saes.sae import SAEMetadata

    meta = SAEMetadata(hook_name=TC_IN, hook_name_out=TC_OUT, hook_head_index_out=0, model_name="tiny-0")
    with pytest.raises(TracerError, match=r"per-head transcoders are not supported"):
        Tracer.from_models(model, [build("transcoder", TC_IN, 16, metadata=meta)])
