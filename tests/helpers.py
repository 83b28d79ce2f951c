"""Factories for tests and scripts: tiny seeded models and SAEs built in-process (no downloads, fast on two
CPU cores). Tests import these by name; fixtures live in conftest.py."""

from __future__ import annotations

import functools
import tempfile

CORPUS = [
    "The Eiffel Tower is in the city of Paris. The Colosseum is in the city of Rome.",
    "When Mary and John went to the park, John gave the ball to Mary.",
    "User: How do I stay healthy?\nAssistant: Sleep well, eat vegetables and walk every day.",
] * 4


@functools.cache
def tiny_tokenizer():
    """A byte-level BPE trained on a few sentences, wrapped as a Hugging Face fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    # TransformerLens re-loads tokenizers by name_or_path, so it must live in a directory.
    path = tempfile.mkdtemp(prefix="tiny-tokenizer-")
    fast.save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def make_model(seed=0, n_layers=2, d_model=16, normalization_type="LN", dtype=None, attn_only=False):
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    tokenizer = tiny_tokenizer()
    cfg = HookedTransformerConfig(
        n_layers=n_layers, d_model=d_model, n_heads=2, d_head=d_model // 2, d_mlp=2 * d_model, n_ctx=64,
        d_vocab=len(tokenizer), act_fn="gelu", normalization_type=normalization_type, seed=seed,
        model_name=f"tiny-{seed}", default_prepend_bos=True, attn_only=attn_only,
    )
    model = HookedTransformer(cfg, tokenizer=tokenizer)
    with torch.no_grad():  # larger weights than the default init, so attributions are far from zero
        g = torch.Generator().manual_seed(seed)
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    model.eval()
    return model.to(dtype) if dtype is not None else model


def make_sae(site, d_in, d_sae=48, seed=0, dtype=None, architecture="standard", model_name="tiny", **cfg_extra):
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    cfg = StandardSAEConfig(d_in=d_in, d_sae=d_sae, dtype="float32", device="cpu",
                            metadata=SAEMetadata(hook_name=site, model_name=model_name), **cfg_extra)
    sae = StandardSAE(cfg)
    g = torch.Generator().manual_seed(1000 + seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae, generator=g) / d_in**0.5)
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=g) / d_in**0.5)
        sae.b_enc.copy_(torch.randn(d_sae, generator=g) * 0.1 - 0.2)  # about a third of latents active
        sae.b_dec.copy_(torch.randn(d_in, generator=g) * 0.05)
    return sae.to(dtype=dtype) if dtype is not None else sae


SITES = ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"]


def make_tracer(seed=0, dtype=None, sites=SITES, normalization_type="LN"):
    from tracer_tui.engine import Tracer

    model = make_model(seed=seed, dtype=dtype, normalization_type=normalization_type)
    saes = [make_sae(s, model.cfg.d_model, seed=seed + i, dtype=dtype) for i, s in enumerate(sites)]
    return Tracer.from_models(model, saes, source=f"tiny-{seed}")
