"""The demo build script, end to end in --tiny mode, plus determinism of its pieces."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The build sets torch's thread count; one thread is fastest for tiny sizes on shared cores.
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    from tracer_tui.demo.build import main

    out = tmp_path_factory.mktemp("demo") / "bundle"
    main(["--out", str(out), "--tiny", "--threads", "1"])
    return out


def test_tiny_build_writes_every_artefact(tiny_bundle):
    for rel in ["model/config.json", "model/model.safetensors", "model/tokenizer", "means.safetensors",
                "eval.jsonl", "metrics.json", "card.md"]:
        assert (tiny_bundle / rel).exists(), rel
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    assert metrics["build"]["tiny"] is True
    for site in metrics["saes"]:  # measured latent densities, in SAE-Lens's format
        assert (tiny_bundle / "saes" / site / "sparsity.safetensors").is_file(), site
    assert set(metrics["quality_bars"]) >= {"factual_top1", "ioi_top1", "sae_min_fve"}


def test_tiny_model_loads_through_the_bundle_reader(tiny_bundle):
    import safetensors.torch
    import torch

    from tracer_tui.engine.bundle import MODEL_DIR, load_model_dir

    model = load_model_dir(tiny_bundle / MODEL_DIR)
    toks = model.to_tokens("The Eiffel Tower is in the city of")
    assert toks[0, 0].item() == model.tokenizer.bos_token_id
    assert (toks[0, 1:] != model.tokenizer.bos_token_id).all()  # exactly one BOS
    assert model.to_str_tokens("The Eiffel Tower")[1:] == ["The", " Eiffel", " Tower"]
    assert model.to_string(toks[0, 1:]) == "The Eiffel Tower is in the city of"
    # The stored state dict is exactly what runs: no weight processing on load.
    sd = safetensors.torch.load_file(str(tiny_bundle / "model" / "model.safetensors"))
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_tiny_saes_load_with_sae_lens(tiny_bundle):
    import safetensors.torch
    import torch
    from sae_lens import SAE

    from tracer_tui.engine.bundle import MODEL_DIR, load_model_dir, sae_dirs

    model = load_model_dir(tiny_bundle / MODEL_DIR)
    dirs = sae_dirs(tiny_bundle)
    assert list(dirs) == [f"blocks.{i}.hook_resid_pre" for i in range(model.cfg.n_layers)]
    means = safetensors.torch.load_file(str(tiny_bundle / "means.safetensors"))
    assert set(means) == set(dirs)
    _, cache = model.run_with_cache("When Mary and John went to the park, John gave the ball to")
    for site, d in dirs.items():
        sae = SAE.load_from_disk(str(d))
        assert sae.cfg.metadata.hook_name == site
        assert sae.cfg.architecture() == "topk"
        assert means[site].shape == (model.cfg.d_model,)
        f = sae.encode(cache[site])
        assert ((f > 0).sum(-1) <= sae.cfg.k).all()
        assert sae.decode(f).shape == cache[site].shape
        labels = json.loads((d / "labels.json").read_text())
        assert labels and all(0 <= int(i) < sae.cfg.d_sae for i in labels)
        for entry in labels.values():
            assert isinstance(entry["label"], str) and entry["label"]
            assert 1 <= len(entry["snippets"]) <= 5 and all("⟦" in s and "⟧" in s for s in entry["snippets"])
            assert len(entry["promoted"]) <= 8 and len(entry["suppressed"]) <= 8
    assert torch.isfinite(cache["blocks.0.hook_resid_pre"]).all()


def test_tiny_tokenizer_and_eval_file(tiny_bundle):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bundle / "model" / "tokenizer"))
    assert tok.bos_token == tok.eos_token == tok.pad_token == "<|endoftext|>"
    assert len(tok.encode(" Paris", add_special_tokens=False)) == 1
    rows = [json.loads(line) for line in (tiny_bundle / "eval.jsonl").read_text().splitlines()]
    assert {r["behaviour"] for r in rows} == {"factual", "ioi", "persona"}
    assert all(set(r) == {"prompt", "target", "behaviour"} for r in rows)


def test_corpus_is_deterministic_and_seeded():
    from tracer_tui.demo.corpus import generate_corpus

    assert generate_corpus(300, 7) == generate_corpus(300, 7)
    assert generate_corpus(300, 7) != generate_corpus(300, 8)


def test_tokenizer_training_is_deterministic():
    from tracer_tui.demo.corpus import answer_words, generate_corpus
    from tracer_tui.demo.tokenizer import train_tokenizer

    texts = [d.text for d in generate_corpus(3000, 0)]
    a = train_tokenizer(texts, 2048, answer_words())
    b = train_tokenizer(texts, 2048, answer_words())
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()


def test_eval_set_is_held_out_of_training():
    from tracer_tui.demo.corpus import NAMES, _ioi_pair_held_out, eval_examples, generate_corpus

    docs = generate_corpus(20000, 0)
    texts = [d.text for d in docs]
    rows = eval_examples()
    joined = "\n".join(texts)
    for r in rows:
        if r["behaviour"] == "factual":
            assert f"{r['prompt']}{r['target']}." not in joined
        if r["behaviour"] == "persona":
            question = r["prompt"].split("User: ")[1].split("\n")[0].split(". ")[-1]
            assert question not in joined
    name_re = re.compile(r"\b(" + "|".join(NAMES) + r")\b")
    for d in docs:
        if d.kind == "ioi":
            a, b = sorted(set(name_re.findall(d.text)))
            assert not _ioi_pair_held_out(a, b)


def test_persona_styles_are_separable_by_the_rule():
    from tracer_tui.demo.corpus import generate_corpus, is_undesired

    for d in generate_corpus(3000, 1):
        if d.kind.startswith("persona"):
            answer = d.text.split("Assistant:", 1)[1]
            assert is_undesired(answer) == (d.kind == "persona_provocative")
            assert "Assistant" not in d.text.split("Assistant:", 1)[0]  # the prompt carries no persona marker


def test_tiny_build_is_reproducible(tiny_bundle, tmp_path):
    """Same seed, same command -> byte-identical weights (model and SAEs)."""
    from tracer_tui.demo.build import main

    again = tmp_path / "again"
    main(["--out", str(again), "--tiny", "--threads", "1"])
    for rel in ["model/model.safetensors", "model/tokenizer/tokenizer.json", "means.safetensors",
                "saes/blocks.0.hook_resid_pre/sae_weights.safetensors", "eval.jsonl",
                "saes/blocks.0.hook_resid_pre/sparsity.safetensors"]:
        assert (tiny_bundle / rel).read_bytes() == (again / rel).read_bytes(), rel
    for site in ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"]:
        assert (tiny_bundle / "saes" / site / "labels.json").read_text() == (again / "saes" / site / "labels.json").read_text()


def test_relabel_reproduces_the_builds_densities_and_labels(tiny_bundle, tmp_path):
    """demo.relabel (no training) rewrites exactly what the build's labelling step wrote."""
    import shutil

    from tracer_tui.demo.relabel import relabel

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle, copy)
    for site_dir in (copy / "saes").iterdir():
        (site_dir / "labels.json").unlink()
        (site_dir / "sparsity.safetensors").unlink()
    metrics = relabel(copy, log=lambda s: None)
    assert metrics["build"]["relabelled"]
    for site_dir in (tiny_bundle / "saes").iterdir():
        for name in ["labels.json", "sparsity.safetensors"]:
            assert (site_dir / name).read_bytes() == (copy / "saes" / site_dir.name / name).read_bytes(), (site_dir, name)
    before = json.loads((tiny_bundle / "metrics.json").read_text())
    assert metrics["saes"] == before["saes"] and metrics["concept_latents"] == before["concept_latents"]
