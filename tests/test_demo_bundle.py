"""The committed demo bundle: re-measure what its card claims, and check the quality bars."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tracer_tui.demo import bundle_dir

BUNDLE = bundle_dir()
SAMPLE_PROMPTS = Path(__file__).resolve().parent.parent / "sample_prompts"

pytestmark = pytest.mark.skipif(not (BUNDLE / "metrics.json").exists(), reason="demo bundle not built")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny model, tiny batches: on shared cores one thread is far faster (no thread-pool wake-ups).
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def metrics():
    return json.loads((BUNDLE / "metrics.json").read_text())


@pytest.fixture(scope="module")
def model():
    from tracer_tui.engine.bundle import MODEL_DIR, load_model_dir

    return load_model_dir(BUNDLE / MODEL_DIR)


@pytest.fixture(scope="module")
def saes():
    from tracer_tui.engine.bundle import load_sae, sae_dirs

    return {site: load_sae(d) for site, d in sae_dirs(BUNDLE).items()}


@pytest.fixture(scope="module")
def fresh_rows(model):
    """Freshly generated corpus text (a seed the build never used), packed like the training rows."""
    from tracer_tui.demo.corpus import generate_corpus
    from tracer_tui.demo.train_model import pack_rows

    docs = generate_corpus(400, seed=12345)
    return pack_rows(docs, model.tokenizer, model.cfg.n_ctx, model.tokenizer.eos_token_id)[0][:16]


def test_bundle_is_small_and_not_tiny(metrics):
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file())
    assert size <= 30 * 2**20
    assert metrics["build"]["tiny"] is False


def test_all_quality_bars_pass(metrics):
    failed = {k: v for k, v in metrics["quality_bars"].items() if not v["pass"]}
    assert not failed


def test_answers_are_single_tokens(model):
    from tracer_tui.engine.bundle import read_eval
    from tracer_tui.demo.corpus import answer_words

    for w in answer_words() + sorted({r["target"] for r in read_eval(BUNDLE)}):
        assert len(model.to_tokens(w, prepend_bos=False)[0]) == 1, w


def test_heldout_top1_matches_card(model, metrics):
    from tracer_tui.engine.bundle import read_eval
    from tracer_tui.demo.measure import eval_top1

    rows = read_eval(BUNDLE)
    subset = [r for b in ("factual", "ioi") for r in [x for x in rows if x["behaviour"] == b][:40]]
    fresh = eval_top1(model, subset)
    for b in ("factual", "ioi"):
        assert metrics["eval"][b]["top1"] >= 0.9
        assert fresh[b]["top1"] >= 0.85
        assert abs(fresh[b]["top1"] - metrics["eval"][b]["top1"]) <= 0.1


def test_sae_fve_l0_and_splice_match_card(model, saes, metrics, fresh_rows):
    from tracer_tui.demo.measure import splice_increase
    from tracer_tui.demo.train_saes import cache_activations, sae_stats

    acts = cache_activations(model, fresh_rows, list(saes))
    assert list(saes) == list(metrics["saes"])
    for site, sae in saes.items():
        card = metrics["saes"][site]
        assert sae.cfg.metadata.hook_name == site
        st = sae_stats(sae, acts[site])
        assert abs(st["fve"] - card["fve"]) <= 0.03, site
        assert st["fve"] >= 0.85 - 0.01 and card["fve"] >= 0.85, site
        assert st["mean_l0"] <= 40 and abs(st["mean_l0"] - card["mean_l0"]) <= 2, site
        assert card["dead_fraction"] <= 0.25
        labels = json.loads((BUNDLE / "saes" / site / "labels.json").read_text())
        assert len(labels) == card["n_live"]
        assert abs(len(labels) / card["d_sae"] - (1 - card["dead_fraction"])) < 1e-6
        sp = splice_increase(model, fresh_rows[:8], site, sae)
        assert sp["ce_increase_frac"] <= 0.15 + 0.03, site


def test_card_names_concept_latents_backed_by_labels(metrics):
    from tracer_tui.demo.corpus import CONCEPT_WORDS, UNDESIRED_RULE

    card = (BUNDLE / "card.md").read_text()
    named = metrics["concept_latents"]
    assert named
    for c in named:
        assert f"{c['site']}:{c['latent']}" in card
        snippets = json.loads((BUNDLE / "saes" / c["site"] / "labels.json").read_text())[str(c["latent"])]["snippets"]
        if c["concept"] == "provocative persona":
            hits = [bool(re.search(UNDESIRED_RULE, s)) for s in snippets]
        else:
            hits = [any(w in s for w in CONCEPT_WORDS[c["concept"]]) for s in snippets]
        assert sum(hits) >= len(snippets) - 1, (c, snippets)


def test_sample_prompts(model):
    from tracer_tui.demo.measure import persona_mix
    from tracer_tui.core.prompts import load_sample_prompts

    prompts = load_sample_prompts(SAMPLE_PROMPTS)
    demo = [p for p in prompts if p.model == "demo"]
    assert len(demo) >= 10
    assert {p.behaviour for p in demo} >= {"factual", "ioi", "persona"}
    assert all(p.needs_hf_cache and p.sae for p in prompts if p.model != "demo")
    for p in demo:
        assert len(model.to_tokens(p.target, prepend_bos=False)[0]) == 1, p.name
        if p.behaviour != "persona":
            pred = model(p.prompt)[0, -1].argmax().item()
            assert model.to_string([pred]) == p.target, p.name
    persona = [p for p in demo if p.behaviour == "persona"]
    assert persona and all(p.undesired_rule for p in persona)
    # 60 seeded samples at T=1 across the persona prompts: each persona must appear in >= 20%.
    # 8 new tokens cover every persona opener ("Who cares!", "Ugh, what a boring question!", ...).
    mix = persona_mix(model, [p.prompt for p in persona], 60 // len(persona), seed=1, max_new_tokens=8,
                      rule=persona[0].undesired_rule)
    assert mix["n_samples"] == 60
    assert 0.2 <= mix["provocative_fraction"] <= 0.8
