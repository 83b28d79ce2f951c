"""TopK SAEs on cached residual-stream activations, exported in SAE-Lens's own format.

A plain PyTorch loop on a cached activation tensor is much faster on CPU than SAE-Lens's training
runner (no model forward per step). The exported SAE computes exactly what was trained:
    f = topk_relu((x - b_dec) @ W_enc + b_enc),  x_hat = f @ W_dec + b_dec
which is SAE-Lens's TopKSAE with apply_b_dec_to_input=True.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


@dataclass
class SAESize:
    expansion: int = 8
    k: int = 32
    steps: int = 1500
    batch: int = 4096
    lr: float = 2e-3
    aux_k: int = 256  # Gao et al. AuxK: dead latents reconstruct the residual error
    aux_coef: float = 1 / 32
    dead_after_tokens: int = 200_000  # a latent unused this long counts as dead for AuxK


@torch.no_grad()
def cache_activations(model, rows: torch.Tensor, sites: list[str], batch: int = 32) -> dict[str, torch.Tensor]:
    """site -> [rows * n_ctx, d_model] activations (all positions, BOS included: the engine runs the
    SAEs on every position, so they must reconstruct the BOS position too)."""
    out: dict[str, list[torch.Tensor]] = {s: [] for s in sites}
    last = max(int(s.split(".")[1]) for s in sites)
    for i in range(0, rows.shape[0], batch):
        _, cache = model.run_with_cache(rows[i : i + batch], names_filter=lambda n: n in sites,
                                        stop_at_layer=last + 1)
        for s in sites:
            out[s].append(cache[s].reshape(-1, cache[s].shape[-1]).clone())
    return {s: torch.cat(v) for s, v in out.items()}


def _topk(pre: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    vals, idx = pre.topk(k, dim=-1)
    return vals.relu(), idx


def train_topk_sae(acts: torch.Tensor, size: SAESize, seed: int, log=print, name: str = "") -> dict:
    """Returns raw-scale weights {W_enc, b_enc, W_dec, b_dec} (SAE-Lens names and shapes)."""
    g = torch.Generator().manual_seed(seed)
    n, d = acts.shape
    d_sae = size.expansion * d
    # Train on unit-scale inputs so one lr fits every layer; the scale is folded back out below.
    mean = acts.mean(0)
    scale = (acts - mean).pow(2).sum(-1).mean().sqrt().item() / d**0.5
    W_dec = torch.randn(d_sae, d, generator=g)
    W_dec /= W_dec.norm(dim=-1, keepdim=True)
    W_dec = W_dec.requires_grad_()
    W_enc = W_dec.detach().T.clone().requires_grad_()  # tied init (Gao et al.)
    b_enc = torch.zeros(d_sae, requires_grad=True)
    b_dec = (mean / scale).clone().requires_grad_()
    params = [W_enc, b_enc, W_dec, b_dec]
    opt = torch.optim.Adam(params, lr=size.lr, betas=(0.9, 0.999))
    since_fired = torch.zeros(d_sae)
    t0 = time.time()
    for step in range(size.steps):
        lr = size.lr * min(1.0, (size.steps - step) / (0.2 * size.steps))  # linear decay over the last 20%
        for grp in opt.param_groups:
            grp["lr"] = lr
        x = acts[torch.randint(0, n, (size.batch,), generator=g)] / scale
        pre = (x - b_dec) @ W_enc + b_enc
        vals, idx = _topk(pre, size.k)
        x_hat = torch.zeros_like(pre).scatter(-1, idx, vals) @ W_dec + b_dec
        err = x - x_hat
        var = (x - x.mean(0)).pow(2).sum(-1).mean()
        loss = err.pow(2).sum(-1).mean() / var
        fired = torch.zeros(d_sae, dtype=torch.bool)
        fired[idx[vals > 0]] = True
        since_fired = torch.where(fired, torch.zeros_like(since_fired), since_fired + size.batch)
        dead = since_fired > size.dead_after_tokens
        n_dead = int(dead.sum())
        if n_dead > 0 and size.aux_coef > 0:
            # AuxK: the top dead latents try to explain what the live ones missed -> revives them.
            aux_pre = pre.masked_fill(~dead, float("-inf"))
            a_vals, a_idx = _topk(aux_pre, min(size.aux_k, n_dead))
            e_hat = torch.zeros_like(pre).scatter(-1, a_idx, a_vals.nan_to_num(0.0)) @ W_dec
            e = err.detach()
            loss = loss + size.aux_coef * (e - e_hat).pow(2).sum(-1).mean() / e.pow(2).sum(-1).mean().clamp_min(1e-8)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # unit-norm decoder rows keep activations comparable across latents
            W_dec /= W_dec.norm(dim=-1, keepdim=True)
        if step % 250 == 0 or step == size.steps - 1:
            log(f"sae {name} step {step}/{size.steps} nmse {loss.item():.4f} dead(aux) {n_dead} ({time.time() - t0:.0f}s)")
    # Fold the input scale: pre-activations (hence the top-k choice) are unchanged, outputs scale back.
    with torch.no_grad():
        return {
            "W_enc": (W_enc / scale).contiguous(),
            "b_enc": b_enc.clone(),
            "W_dec": (W_dec * scale).contiguous(),
            "b_dec": (b_dec * scale).clone(),
        }


def to_sae_lens(weights: dict, k: int, site: str, model_name: str = "tracer-demo", context_size: int = 128):
    """Wrap trained weights in SAE-Lens's TopKSAE so ``sae.save_model`` writes its native format."""
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    d_in, d_sae = weights["W_enc"].shape
    cfg = TopKSAEConfig(
        d_in=d_in, d_sae=d_sae, k=k, dtype="float32", device="cpu", apply_b_dec_to_input=True,
        normalize_activations="none",
        metadata=SAEMetadata(model_name=model_name, hook_name=site, hook_head_index=None,
                             prepend_bos=True, context_size=context_size, dataset_path="tracer-demo-corpus"),
    )
    sae = TopKSAE(cfg)
    sae.load_state_dict({k_: v.to(torch.float32) for k_, v in weights.items()})
    sae.eval()
    return sae


@torch.no_grad()
def sae_stats(sae, acts: torch.Tensor, batch: int = 8192) -> dict:
    """Fraction of variance explained, mean L0 and per-latent fire counts on ``acts``."""
    sse = 0.0
    l0 = 0.0
    fires = torch.zeros(sae.cfg.d_sae)
    mean = acts.mean(0)
    sst = (acts - mean).pow(2).sum().item()
    for i in range(0, acts.shape[0], batch):
        x = acts[i : i + batch]
        f = sae.encode(x)
        sse += (x - sae.decode(f)).pow(2).sum().item()
        nz = f > 0
        l0 += nz.sum().item()
        fires += nz.sum(0).float()
    n = acts.shape[0]
    return {"fve": 1 - sse / sst, "mean_l0": l0 / n, "dead_fraction": float((fires == 0).float().mean()),
            "fires": fires}
