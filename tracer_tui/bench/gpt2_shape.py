"""A seeded, random-weight model of GPT-2-small shape with 12 residual SAEs, calibrated to real SAE sparsity.

No download: the weights are random, but the shapes (and so the costs) are those of GPT-2 small with
gpt2-small-res-jb (12 sites x 24,576 latents, mean L0 about 64).
"""

from __future__ import annotations

from dataclasses import dataclass

FULL = dict(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, d_vocab=50257, n_ctx=1024, d_sae=24576,
            l0=64)
# Small enough for a test to run the whole bench in seconds; 4 layers, so the middle layer is below the root's level.
TINY = dict(n_layers=4, d_model=32, n_heads=2, d_head=16, d_mlp=64, d_vocab=300, n_ctx=160, d_sae=128, l0=8)


@dataclass
class BenchSetup:
    model: object
    saes: list
    shape: dict
    weights_bytes: int


def build(shape: dict, device, dtype, seed: int = 0, calib_tokens: int = 128) -> BenchSetup:
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = HookedTransformerConfig(
        n_layers=shape["n_layers"], d_model=shape["d_model"], n_heads=shape["n_heads"], d_head=shape["d_head"],
        d_mlp=shape["d_mlp"], d_vocab=shape["d_vocab"], n_ctx=shape["n_ctx"], act_fn="gelu_new",
        normalization_type="LN", seed=seed, model_name="bench-gpt2-shape", device=str(device), dtype=dtype,
    )
    model = HookedTransformer(cfg).eval()
    model.requires_grad_(False)
    sites = [f"blocks.{layer}.hook_resid_pre" for layer in range(cfg.n_layers)]
    g = torch.Generator().manual_seed(seed)
    calib = torch.randint(0, cfg.d_vocab, (1, calib_tokens), generator=g).to(device)
    with torch.inference_mode():
        _, cache = model.run_with_cache(calib, names_filter=sites)
    saes = []
    for site in sites:
        sae_cfg = StandardSAEConfig(d_in=cfg.d_model, d_sae=shape["d_sae"], dtype=str(dtype).replace("torch.", ""),
                                    device=str(device), metadata=SAEMetadata(hook_name=site, model_name=cfg.model_name))
        sae = StandardSAE(sae_cfg)
        with torch.no_grad():
            w = torch.randn(cfg.d_model, shape["d_sae"], generator=g).to(device, dtype) / cfg.d_model**0.5
            sae.W_enc.copy_(w)
            sae.W_dec.copy_(w.T / w.T.norm(dim=-1, keepdim=True))
            sae.b_dec.zero_()
            # One threshold making the mean number of active latents per token about ``l0`` (position 0,
            # whose residual norm is an outlier, left out as real SAE training does).
            pre = ((cache[site][0, 1:] - sae.b_dec) @ sae.W_enc).flatten().float()
            q = 1.0 - shape["l0"] / shape["d_sae"]
            sae.b_enc.fill_(-float(torch.quantile(pre, q)))
        sae.requires_grad_(False)
        saes.append(sae)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    weights += sum(p.numel() * p.element_size() for s in saes for p in s.parameters())
    return BenchSetup(model=model, saes=saes, shape=shape, weights_bytes=weights)
