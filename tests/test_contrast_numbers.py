"""Contrast mode's numbers against independent computations: raw TransformerLens hooks, one completion at a time."""

from __future__ import annotations

import pytest
import torch
from helpers import make_model, make_sae
from reference import tokens_of

from tracer_tui.engine import Tracer
from tracer_tui.engine.contrast import completion_attributions, contrast
from tracer_tui.engine.sampling import prompt_ids

PROMPT = "User: How do I stay healthy?\nAssistant:"
# Different lengths, so the batch is padded; labels given by hand.
COMPLETIONS = [
    (" Sleep well and walk.", True),
    (" John gave the ball to Mary in the park every day.", False),
    (" Eat.", True),
    (" The city of Paris", False),
    (" Mary and John", None),  # unlabelled: in neither mean
]


def _reference(model, sae, site, prompt, completion, mode="zero", mean=None, per_position=False):
    """One completion, one site: its own forward and backward with a raw hook. Returns ([d_sae], metric, acts),
    or with ``per_position`` the zero-mode attributions [pos, d_sae] before summing (BOS row zeroed)."""
    prompt_tokens = tokens_of(model, prompt)[0]
    comp = model.tokenizer.encode(completion, add_special_tokens=False)
    tokens = torch.cat([prompt_tokens, torch.tensor(comp)])[None]
    P = prompt_tokens.numel()
    held = {}

    def hook(act, hook):
        held["x"] = act.detach().clone().requires_grad_(True)
        return held["x"]

    with torch.enable_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=[(site, hook)])[0]
        logp = torch.log_softmax(logits, -1)
        metric = sum(logp[P - 1 + j, t] for j, t in enumerate(comp))
        (g,) = torch.autograd.grad(metric, held["x"])
    x, g = held["x"][0].detach(), g[0]
    f = sae.encode(x)
    if per_position:
        attr = (f * (g @ sae.W_dec.T)).detach()
        attr[0] = 0
        return attr
    if mode == "zero":
        attr = (f * (g @ sae.W_dec.T))[1:].sum(0)  # BOS (position 0) excluded
    else:
        d_hat = sae.W_dec / sae.W_dec.norm(dim=-1, keepdim=True)
        attr = ((g @ d_hat.T) * ((x - mean) @ d_hat.T))[1:].sum(0)
    return attr.detach(), float(metric.detach()), f[1:].sum(0).detach()


def _references(tracer, mode="zero", means=None):
    model = tracer.adapter.model
    rows, metrics, acts = [], [], []
    for text, _ in COMPLETIONS:
        parts = [_reference(model, s.sae, s.site, PROMPT, text, mode, None if means is None else means[s.site])
                 for s in tracer.saes]
        rows.append(torch.cat([p[0] for p in parts]))
        acts.append(torch.cat([p[2] for p in parts]))
        metrics.append(parts[0][1])
    return torch.stack(rows), metrics, torch.stack(acts)


def _diff(rows):
    und = torch.tensor([lab is True for _, lab in COMPLETIONS])
    des = torch.tensor([lab is False for _, lab in COMPLETIONS])
    return rows[und].mean(0) - rows[des].mean(0)


def test_delta_attribution_is_the_difference_of_independent_per_completion_attributions(tracer64):
    c = contrast(tracer64, PROMPT, completions=COMPLETIONS)
    ref, metrics, acts = _references(tracer64)
    assert c.counts == {"undesired": 2, "desired": 2, "unlabelled": 1}
    assert c.batch.logprobs == pytest.approx(metrics, abs=1e-9)
    assert torch.allclose(c.batch.attributions, ref.double(), atol=1e-9)
    assert ref.abs().max() > 1e-2  # the comparison is not between zeros
    assert torch.allclose(c.delta_attribution(), _diff(ref.double()), atol=1e-9)
    # The baseline: activation summed over the same positions, difference of means.
    assert torch.allclose(c.activation_difference(), _diff(acts.double()), atol=1e-9)
    top = c.top(5)
    delta = _diff(ref.double())
    assert [x.delta_attribution for x in top] == pytest.approx(delta.topk(5).values.tolist(), abs=1e-9)
    one = top[0]
    assert c.per_completion(one.id) == pytest.approx(ref[:, c.flat_index(one.id)].tolist(), abs=1e-9)
    # Its standard error from the independent per-completion values (statistics: sample variances).
    import statistics

    col = ref[:, c.flat_index(one.id)].double().tolist()
    u = [v for v, (_, lab) in zip(col, COMPLETIONS) if lab is True]
    d = [v for v, (_, lab) in zip(col, COMPLETIONS) if lab is False]
    want = (statistics.variance(u) / len(u) + statistics.variance(d) / len(d)) ** 0.5
    assert one.delta_se == pytest.approx(want, rel=1e-6) and want > 0


def test_attribution_is_the_first_order_effect_of_scaling_the_latent(tracer64):
    """Finite difference: scale latent i's contribution f_i d_i at every position (not BOS) by (1 + eps)."""
    c = contrast(tracer64, PROMPT, completions=COMPLETIONS)
    model = tracer64.adapter.model
    text = COMPLETIONS[1][0]
    comp = model.tokenizer.encode(text, add_special_tokens=False)
    tokens = torch.cat([tokens_of(model, PROMPT)[0], torch.tensor(comp)])[None]
    P = tokens.shape[1] - len(comp)
    row = c.batch.attributions[1]
    for flat in row.abs().topk(3).indices.tolist():
        site_name, i = c.latent_id(flat)
        sae = tracer64.site_by_name[site_name].sae

        def metric(eps, sae=sae, i=i, site_name=site_name):
            def hook(act, hook):
                f = sae.encode(act[0])
                act = act.clone()
                act[0, 1:] += eps * f[1:, i : i + 1] * sae.W_dec[i]
                return act

            with torch.no_grad():
                logp = torch.log_softmax(model.run_with_hooks(tokens, fwd_hooks=[(site_name, hook)])[0], -1)
            return float(sum(logp[P - 1 + j, t] for j, t in enumerate(comp)))

        eps = 1e-5
        assert float(row[flat]) == pytest.approx((metric(eps) - metric(-eps)) / (2 * eps), rel=1e-5, abs=1e-8)


def test_batched_equals_unbatched_and_padding_does_not_leak(tracer64):
    adapter = tracer64.adapter
    ids = prompt_ids(adapter, PROMPT)
    comps = [adapter.encode_text(t) for t, _ in COMPLETIONS]
    together = completion_attributions(tracer64, ids, comps)
    alone = completion_attributions(tracer64, ids, comps, batch_tokens=1)  # one completion per pass
    reversed_ = completion_attributions(tracer64, ids, comps[::-1])
    assert torch.allclose(together.attributions, alone.attributions, atol=1e-10)
    assert torch.allclose(together.activations, alone.activations, atol=1e-10)
    assert torch.allclose(together.attributions, reversed_.attributions.flip(0), atol=1e-10)
    assert together.logprobs == pytest.approx(alone.logprobs, abs=1e-10)


def test_mean_mode_matches_the_projection_formula(tracer64):
    g = torch.Generator().manual_seed(7)
    means = {s.site: torch.randn(s.d_in, generator=g, dtype=torch.float64) for s in tracer64.saes}
    c = contrast(tracer64, PROMPT, completions=COMPLETIONS, mode="mean", means=means)
    ref, _, _ = _references(tracer64, mode="mean", means=means)
    assert c.mode == "mean"
    assert torch.allclose(c.batch.attributions, ref.double(), atol=1e-9)
    assert torch.allclose(c.delta_attribution(), _diff(ref.double()), atol=1e-9)
    zero = contrast(tracer64, PROMPT, completions=COMPLETIONS)
    assert not torch.allclose(zero.delta_attribution(), c.delta_attribution(), atol=1e-3)


def test_mean_mode_is_the_first_order_effect_of_moving_the_projection_to_the_mean(tracer64):
    """Independent of the formula: central finite differences of the real model, with the projection of x on d̂
    moved a fraction t of the way to the mean's at one position. A(p) ~ m(clean) - m(mean-ablated) = -dm/dt."""
    g = torch.Generator().manual_seed(7)
    means = {s.site: torch.randn(s.d_in, generator=g, dtype=torch.float64) for s in tracer64.saes}
    text = COMPLETIONS[0][0]
    c = contrast(tracer64, PROMPT, completions=[(text, True), (COMPLETIONS[1][0], False)], mode="mean", means=means)
    model = tracer64.adapter.model
    comp = model.tokenizer.encode(text, add_special_tokens=False)
    tokens = torch.cat([tokens_of(model, PROMPT)[0], torch.tensor(comp)])[None]
    P = tokens_of(model, PROMPT).shape[1]
    sae = tracer64.saes[0]
    d_hat = sae.sae.W_dec / sae.sae.W_dec.norm(dim=-1, keepdim=True)
    latent = int(c.batch.attributions[0, : sae.d_sae].abs().argmax())

    def metric(t):
        def hook(act, hook):
            x = act.clone()
            shift = ((x[0] - means[sae.site]) @ d_hat[latent])[:, None] * d_hat[latent]  # [pos, d]
            x[0, 1:] = x[0, 1:] - t * shift[1:]  # every position but BOS, as the contrast sums them
            return x

        logp = torch.log_softmax(model.run_with_hooks(tokens, fwd_hooks=[(sae.site, hook)])[0], -1)
        return sum(float(logp[P - 1 + j, tokens[0, P + j]]) for j in range(tokens.shape[1] - P))

    eps = 1e-4
    fd = -(metric(eps) - metric(-eps)) / (2 * eps)
    assert abs(fd) > 1e-3
    assert c.batch.attributions[0, latent].item() == pytest.approx(fd, rel=1e-4, abs=1e-7)


def test_extend_attributes_only_the_new_completions_and_matches_a_full_pass(tracer64):
    first = contrast(tracer64, PROMPT, completions=COMPLETIONS[:3])
    grown = first.extend(COMPLETIONS[3:])
    full = contrast(tracer64, PROMPT, completions=COMPLETIONS)
    assert [(c.text, c.undesired) for c in grown.completions] == [(c.text, c.undesired) for c in full.completions]
    for name in ("attributions", "activations", "errors"):
        assert torch.allclose(getattr(grown.batch, name), getattr(full.batch, name), atol=1e-9), name
    assert grown.batch.logprobs == pytest.approx(full.batch.logprobs, abs=1e-9)
    assert torch.allclose(grown.delta_attribution(), full.delta_attribution(), atol=1e-9)
    assert first.batch.attributions.shape[0] == 3  # the original is left as it was


def test_relabel_recomputes_delta_without_a_new_pass(tracer64):
    c = contrast(tracer64, PROMPT, completions=COMPLETIONS)
    ref, _, _ = _references(tracer64)
    flipped = c.relabel({4: True, 0: False})
    assert [x.undesired for x in flipped.completions] == [False, False, True, False, True]
    und, des = torch.tensor([2, 4]), torch.tensor([0, 1, 3])
    expected = ref.double()[und].mean(0) - ref.double()[des].mean(0)
    assert torch.allclose(flipped.delta_attribution(), expected, atol=1e-9)
    assert flipped.batch is c.batch


PLANT_SITE = "blocks.1.hook_resid_post"
PLANTED = 5
PLANT_PROMPT = "When Mary and John went to the park,"


def planted_tracer(dtype=None):
    """One planted direction u: the unembedding sends u to ' Mary' and -u to ' John', and latent PLANTED of the
    last SAE has decoder row 3u and is active (f = 1) at every position."""
    model = make_model(seed=0, dtype=dtype)
    saes = [make_sae(s, model.cfg.d_model, seed=i, dtype=dtype) for i, s in
            enumerate(["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", PLANT_SITE])]
    tok = model.tokenizer
    mary, john = tok.encode(" Mary", add_special_tokens=False), tok.encode(" John", add_special_tokens=False)
    assert len(mary) == len(john) == 1
    with torch.no_grad():
        u = torch.randn(model.cfg.d_model, generator=torch.Generator().manual_seed(11)).to(model.W_U.dtype)
        u = u - u.mean()  # LayerNorm removes the mean anyway
        u = u / u.norm()
        model.W_U[:, mary[0]] = 3.0 * u
        model.W_U[:, john[0]] = -3.0 * u
        sae = saes[2]
        sae.W_enc[:, PLANTED] = 0.0
        sae.b_enc[PLANTED] = 1.0
        sae.W_dec[PLANTED] = 3.0 * u
    return Tracer.from_models(model, saes, source="planted")


@pytest.fixture(scope="module")
def planted():
    return planted_tracer()


def test_planted_latent_ranks_first(planted):
    comps = [(" Mary gave the ball to Mary.", True), (" Mary and Mary", True), (" Mary went to the city", True),
             (" John gave the ball to John.", False), (" John and John", False), (" John went to the city", False)]
    c = contrast(planted, PLANT_PROMPT, completions=comps)
    top = c.top(5)
    assert top[0].id == f"{PLANT_SITE}:{PLANTED}"
    assert top[0].delta_attribution > 2 * top[1].delta_attribution > 0
    # Its activation is the same everywhere, so the activation-difference baseline cannot find it.
    assert f"{PLANT_SITE}:{PLANTED}" not in [x.id for x in c.baseline(5)]
    assert 0 <= c.overlap(5) <= 5


def test_means_computed_from_texts_match_run_with_cache_and_are_cached(tracer, tmp_path, monkeypatch):
    from tracer_tui.engine import means as means_mod

    texts = ["When Mary and John went to the park,", "The Eiffel Tower is in the city of Paris."]
    got = means_mod.site_means(tracer, texts=texts, cache_dir=tmp_path)
    model = tracer.adapter.model
    for s in tracer.saes:
        rows = [model.run_with_cache(tokens_of(model, t), names_filter=[s.site])[1][s.site][0, 1:] for t in texts]
        expected = torch.cat(rows).double().mean(0)
        assert torch.allclose(got[s.site].double(), expected, atol=1e-5)
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    monkeypatch.setattr(means_mod, "compute_means", lambda *a, **k: pytest.fail("cache not used"))
    again = means_mod.site_means(tracer, texts=texts, cache_dir=tmp_path)
    assert all(torch.equal(again[s], got[s]) for s in got)


def test_bundle_means_file_is_used(tmp_path):
    from safetensors.torch import save_file

    from helpers import make_tracer
    from tracer_tui.engine.means import site_means

    t = make_tracer(seed=1)
    t.adapter.source = str(tmp_path / "model")  # as loaded from <bundle>/model
    planted = {s.site: torch.full((s.d_in,), float(i)) for i, s in enumerate(t.saes)}
    save_file(planted, str(tmp_path / "means.safetensors"))
    got = site_means(t, cache_dir=tmp_path / "cache")
    assert all(torch.equal(got[s], planted[s]) for s in planted)
    assert not (tmp_path / "cache").exists()


def test_positions_split_the_sum_into_prompt_and_completion(tracer64):
    adapter = tracer64.adapter
    ids = prompt_ids(adapter, PROMPT)
    comps = [adapter.encode_text(t) for t, _ in COMPLETIONS]
    parts = {p: completion_attributions(tracer64, ids, comps, positions=p) for p in ("all", "prompt", "completion")}
    for field in ("attributions", "activations"):
        whole, a, b = (getattr(parts[p], field) for p in ("all", "prompt", "completion"))
        assert torch.allclose(whole, a + b, atol=1e-10)
        assert a.abs().max() > 1e-3 and b.abs().max() > 1e-3
    # On the prompt, every completion sees the same activations.
    assert torch.allclose(parts["prompt"].activations, parts["prompt"].activations[0].expand_as(parts["prompt"].activations))


def test_focus_is_the_position_where_the_latent_matters_most(tracer64):
    c = contrast(tracer64, PROMPT, completions=COMPLETIONS)
    model = tracer64.adapter.model
    P = tokens_of(model, PROMPT).shape[1]
    sae = tracer64.saes[-1]
    offset = c.offsets[-1]
    for index in (0, 1):
        text = COMPLETIONS[index][0]
        row = c.batch.attributions[index, offset : offset + sae.d_sae]
        latent = int(row.abs().argmax())  # active on this completion
        per = _reference(model, sae.sae, sae.site, PROMPT, text, per_position=True)[:, latent]
        p = int(per.abs().argmax())
        f = c.focus(index, f"{sae.site}:{latent}")
        assert f.attribution == pytest.approx(float(per[p]), abs=1e-9)
        comp = model.tokenizer.encode(text, add_special_tokens=False)
        k = min(max(p + 1 - P, 0), len(comp) - 1)  # the target: the completion token predicted at p (or the first)
        assert f.target_id == comp[k] and f.position == P + k - 1
        assert f.text == PROMPT + model.tokenizer.decode(comp[:k])
        assert tokens_of(model, f.text).shape[1] == f.position + 1  # the target is predicted at the last position
    inactive = int((c.batch.activations[0, offset : offset + sae.d_sae] == 0).nonzero()[0])
    assert c.focus(0, f"{sae.site}:{inactive}") is None
