"""Steering validation and sampling: exact interventions, determinism, and a planted latent that really steers."""

from __future__ import annotations

import pytest
import torch
from helpers import make_tracer
from test_contrast_numbers import PLANT_PROMPT, PLANT_SITE, PLANTED, planted_tracer

from tracer_tui.core.errors import Cancelled, TracerError
from tracer_tui.engine.sampling import sample_completions, sample_groups
from tracer_tui.engine.steering import steer, steering_hooks, typical_activations

LATENT = f"{PLANT_SITE}:{PLANTED}"
OPTS = dict(samples=24, max_tokens=8, seed=0)


@pytest.fixture(scope="module")
def planted():
    return planted_tracer()


def test_steering_adds_alpha_times_the_decoder_row_at_every_position(tracer):
    """Captured after the steering hook at the same site: row 0 moved by alpha * d_i everywhere, row 1 untouched."""
    site = tracer.saes[1]
    model = tracer.adapter.model
    tokens = model.to_tokens(PLANT_PROMPT).repeat(2, 1)
    seen = {}

    def capture(act, hook):
        seen.setdefault("x", []).append(act.detach().clone())

    hooks = steering_hooks(tracer, [(site, 7, -2.5), None])(0, 2)
    with torch.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=[(site.site, capture)])
        with tracer.adapter.hooks(hooks):
            model.run_with_hooks(tokens, fwd_hooks=[(site.site, capture)])
    clean, steered = seen["x"]
    expected = -2.5 * site.sae.W_dec[7]
    assert torch.allclose(steered[0] - clean[0], expected.expand_as(clean[0]), atol=1e-5)
    assert torch.equal(steered[1], clean[1])


def test_sampling_is_deterministic_and_seeded(tracer):
    a = sample_completions(tracer.adapter, PLANT_PROMPT, 6, max_tokens=6, seed=3)
    b = sample_completions(tracer.adapter, PLANT_PROMPT, 6, max_tokens=6, seed=3)
    c = sample_completions(tracer.adapter, PLANT_PROMPT, 6, max_tokens=6, seed=4)
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.text for x in a] != [x.text for x in c]
    # Groups share their uniforms: an unsteered second group repeats the first exactly.
    g1, g2 = sample_groups(tracer.adapter, list(tracer.adapter.tokenize(PLANT_PROMPT)[0].tolist()), 6, groups=2,
                           max_tokens=6, seed=3)
    assert [x.text for x in g1] == [x.text for x in g2] == [x.text for x in a]
    # The stored ids are what the text decodes from.
    assert all(tracer.adapter.decode_ids(x.ids) == x.text for x in a)


def test_sampling_stops_at_a_stop_string(tracer):
    free = sample_completions(tracer.adapter, PLANT_PROMPT, 8, max_tokens=10, seed=1, stop=())
    letter = next(ch for ch in "eaoitn" if sum(ch in x.text for x in free) >= 2)
    cut = sample_completions(tracer.adapter, PLANT_PROMPT, 8, max_tokens=10, seed=1, stop=(letter,))
    for f, c in zip(free, cut):
        assert letter not in c.text
        assert f.text.startswith(c.text)
        if letter in f.text:
            assert len(c.text) <= f.text.index(letter)


def test_sampling_reports_progress_and_can_be_cancelled(tracer):
    steps = []
    sample_completions(tracer.adapter, PLANT_PROMPT, 2, max_tokens=3, progress=lambda s, f: steps.append(f), stop=())
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    with pytest.raises(Cancelled):
        sample_completions(tracer.adapter, PLANT_PROMPT, 2, max_tokens=3, should_cancel=lambda: True)


def test_steer_is_deterministic_and_zero_alpha_changes_nothing(planted):
    a = steer(planted, PLANT_PROMPT, LATENT, alpha=4, rule="mary", random=2, **OPTS)
    b = steer(planted, PLANT_PROMPT, LATENT, alpha=4, rule="mary", random=2, **OPTS)
    assert a.to_json() == b.to_json()
    zero = steer(planted, PLANT_PROMPT, LATENT, alpha=0.0, rule="mary", **OPTS)
    assert [c.text for c in zero.completions] == [c.text for c in zero.unsteered]
    assert zero.rate == zero.unsteered_rate


def test_planted_latent_steers_both_ways_beyond_the_random_band(planted):
    up = steer(planted, PLANT_PROMPT, LATENT, alpha=4, rule="mary", random=4, **OPTS)
    band = up.random_band
    assert up.rate >= up.unsteered_rate + 0.15
    assert up.rate > band["max"] >= band["mean"] >= band["min"]
    assert len(band["rates"]) == 4 and all(r["id"].startswith(PLANT_SITE) for r in band["latents"])
    assert LATENT not in [r["id"] for r in band["latents"]]
    # d = Mary - John: negative alpha lowers the Mary rate and raises the John rate.
    down = steer(planted, PLANT_PROMPT, LATENT, alpha=-4, rule="mary", **OPTS)
    assert down.rate <= down.unsteered_rate and down.rate < up.rate
    john = steer(planted, PLANT_PROMPT, LATENT, alpha=-4, rule="john", **OPTS)
    assert john.rate >= john.unsteered_rate + 0.15


def test_default_alpha_is_four_times_the_typical_activation(planted):
    s = steer(planted, PLANT_PROMPT, LATENT, rule="mary", samples=4, max_tokens=4)
    assert s.typical == pytest.approx(1.0)  # the planted latent is exactly 1 wherever it is read
    assert s.alpha == pytest.approx(4.0) and s.multiplier == pytest.approx(4.0)
    # Random latents (active ones) get a steering vector of the same norm: alpha * |d_i| / |d_j|.
    r = steer(planted, PLANT_PROMPT, LATENT, alpha=2.0, rule="mary", random=2, samples=4, max_tokens=4)
    site = planted.site_by_name[PLANT_SITE]
    ids = planted.adapter.tokenize(PLANT_PROMPT)[0].tolist()
    typ = typical_activations(planted, site, ids, [list(c.ids) for c in r.unsteered])
    w = site.sae.W_dec.detach()
    i = int(LATENT.rsplit(":", 1)[1])
    assert len(r.random) == 2
    for x in r.random:
        j = int(x.id.rsplit(":", 1)[1])
        assert typ[j] > 0 and j != i
        assert float((x.alpha * w[j]).norm()) == pytest.approx(float((2.0 * w[i]).norm()), rel=1e-5)


def test_bad_steering_inputs(planted):
    with pytest.raises(TracerError, match="finite"):
        steer(planted, PLANT_PROMPT, LATENT, alpha=float("nan"), rule="mary", samples=2, max_tokens=2)
    with pytest.raises(TracerError, match="overflows float32"):
        steer(planted, PLANT_PROMPT, LATENT, alpha=1e39, rule="mary", samples=2, max_tokens=2)
    with pytest.raises(TracerError, match="malformed latent id"):
        steer(planted, PLANT_PROMPT, "blocks.1.hook_resid_post", rule="mary", samples=2)
    with pytest.raises(TracerError, match="unknown site"):
        steer(planted, PLANT_PROMPT, "blocks.7.hook_resid_post:3", rule="mary", samples=2)
    with pytest.raises(TracerError, match="outside"):
        steer(planted, PLANT_PROMPT, f"{PLANT_SITE}:999", rule="mary", samples=2)
    with pytest.raises(TracerError, match="at least 1"):
        steer(planted, PLANT_PROMPT, LATENT, rule="mary", samples=0)
    with pytest.raises(TracerError, match="needs a rule"):
        steer(planted, PLANT_PROMPT, LATENT, samples=2)
    with pytest.raises(TracerError, match="context"):
        steer(planted, PLANT_PROMPT, LATENT, rule="mary", samples=2, max_tokens=500)


def test_alpha_that_makes_the_logits_non_finite_is_a_clear_error():
    """float16 without LayerNorm: a representable steering vector whose logits overflow to inf."""
    tracer = make_tracer(normalization_type=None, dtype=torch.float16)
    site = tracer.sites[-1]
    with pytest.raises(TracerError, match=rf"steering {site}:1 with alpha=80000 makes the model's logits NaN"):
        steer(tracer, PLANT_PROMPT, f"{site}:1", alpha=8e4, rule="x", samples=2, max_tokens=2)


def test_kv_cache_sampling_equals_full_recomputation(planted):
    """Incremental decoding (prompt once, then one token per step) samples exactly what re-running does,
    steered or not, and however the rows are chunked."""
    ids = planted.adapter.tokenize(PLANT_PROMPT)[0].tolist()
    site = planted.site_by_name[PLANT_SITE]
    hooks = steering_hooks(planted, [None] * 5 + [(site, PLANTED, 3.0)] * 5)
    runs = [sample_groups(planted.adapter, ids, 5, groups=2, max_tokens=8, seed=2, stop=(), hooks=hooks,
                          use_cache=cache, row_chunk=chunk) for cache, chunk in [(True, None), (False, None), (True, 3)]]
    texts = [[[c.text for c in grp] for grp in run] for run in runs]
    assert texts[0] == texts[1] == texts[2]
    assert texts[0][0] != texts[0][1]  # the steered group differs
