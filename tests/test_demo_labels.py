"""Demo latent labels: dense latents say so instead of reading like a concept; a latent whose top snippets are
one planted concept's text is named after it (rules on a tiny labeller run, then the shipped bundle)."""

from __future__ import annotations

import json

import pytest

from tracer_tui.core.defaults import DENSE_THRESHOLD
from tracer_tui.demo import bundle_dir
from tracer_tui.demo.labels import concept_head, label_concepts

BUNDLE = bundle_dir()
needs_bundle = pytest.mark.skipif(not (BUNDLE / "model" / "config.json").is_file(), reason="no demo bundle")


def test_concept_head_needs_a_clear_majority_of_enough_snippets():
    concepts = label_concepts()
    paris = ["The Arc de Triomphe is in the city⟦ of⟧ Paris."] * 18 + ["To see the⟦ Eiffel⟧ Tower, go"] * 4
    other = ["When Mary and John went to the⟦ park⟧"] * 5
    assert concept_head(paris, concepts) == "Paris"
    assert concept_head(paris + other, concepts) == "Paris"  # 22/27 = 81%
    assert concept_head(paris + other * 2, concepts) is None  # 22/32 = 69%
    assert concept_head(paris[:10], concepts) is None  # too few top activations to call it a concept
    # landmarks count even when the ⟦⟧ marker splits them; whole words only
    assert concept_head(["I saw Big⟦ Ben⟧ today"] * 20, concepts) == "London"
    assert concept_head(["a Riot in town"] * 20, concepts) is None


def test_labeller_marks_every_dense_latent_and_only_those():
    import torch
    from helpers import make_sae

    from tracer_tui.engine.bundle import MODEL_DIR, load_model_dir
    from tracer_tui.demo.labels import label_site

    if not (BUNDLE / "model" / "config.json").is_file():
        pytest.skip("no demo bundle (its tokenizer and unembedding feed the labeller)")
    model = load_model_dir(BUNDLE / MODEL_DIR)
    sae = make_sae("blocks.0.hook_resid_pre", model.cfg.d_model, d_sae=40)
    with torch.no_grad():  # densities from ~0% to ~50%
        sae.b_enc.copy_(torch.linspace(-3.0, 0.0, 40))
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(0, model.cfg.d_vocab, (6, 32), generator=g)
    kinds = torch.randint(0, 5, (6, 32), generator=g, dtype=torch.int8)
    acts = torch.randn(6 * 32, model.cfg.d_model, generator=g)
    fires = (sae.encode(acts) > 0).sum(0).float()
    labels, _ = label_site(model, sae, acts, rows, kinds, fires)
    density = fires / acts.shape[0]
    assert labels and any(density > DENSE_THRESHOLD) and any((density > 0) & (density <= DENSE_THRESHOLD))
    for k, v in labels.items():
        assert v["label"].startswith("dense (") == bool(density[int(k)] > DENSE_THRESHOLD), (k, v["label"])


@needs_bundle
def test_shipped_labels_agree_with_shipped_densities():
    from tracer_tui.engine.density import Density, read_log_sparsity

    for d in sorted((BUNDLE / "saes").iterdir()):
        labels = json.loads((d / "labels.json").read_text())
        dens = Density(read_log_sparsity(d))
        for k, v in labels.items():
            assert v["label"].startswith("dense (") == dens.is_dense(int(k)), (d.name, k, v["label"], dens(int(k)))


@needs_bundle
def test_named_latents_read_as_what_they_are():
    def label(site, i):
        return json.loads((BUNDLE / "saes" / site / "labels.json").read_text())[str(i)]["label"]

    # fires on about half of all tokens: dense, not "hospital"
    assert label("blocks.0.hook_resid_pre", 633).startswith("dense (49% of tokens)")
    metrics = json.loads((BUNDLE / "metrics.json").read_text())
    named = {c["concept"]: c for c in metrics["concept_latents"]}
    paris = named["Paris"]
    assert (paris["site"], paris["latent"]) == ("blocks.2.hook_resid_pre", 330)
    assert label(paris["site"], paris["latent"]).split(" · ")[0] == "Paris"
    persona = named["provocative persona"]
    assert "persona provocative" in label(persona["site"], persona["latent"])
