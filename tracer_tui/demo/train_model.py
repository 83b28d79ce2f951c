"""Pack the corpus into fixed-length rows and train the HookedTransformer directly.

Training the HookedTransformer itself (rather than an HF model converted afterwards) means the
saved state dict is exactly what ``HookedTransformer(cfg)`` runs: no fold_ln / centering step can
change the numbers between training and the engine.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from .corpus import KINDS, Doc


@dataclass
class ModelSize:
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    n_ctx: int = 128
    steps: int = 2000
    batch: int = 32
    lr: float = 1e-3


def model_config_dict(size: ModelSize, d_vocab: int, seed: int) -> dict:
    """JSON-serialisable HookedTransformerConfig kwargs (the bundle's model/config.json)."""
    return {
        "model_name": "tracer-demo",
        "d_model": size.d_model,
        "d_head": size.d_model // size.n_heads,
        "n_heads": size.n_heads,
        "n_layers": size.n_layers,
        "d_mlp": 4 * size.d_model,
        "d_vocab": d_vocab,
        "n_ctx": size.n_ctx,
        "act_fn": "gelu",
        "normalization_type": "LN",
        "positional_embedding_type": "standard",
        # Our tokenizer adds no BOS itself; TransformerLens re-loads it with add_bos_token=True and
        # then detects tokenizer_prepends_bos=True, so to_tokens() yields exactly one BOS.
        "tokenizer_prepends_bos": True,
        "default_prepend_bos": True,
        "seed": seed,
    }


def pack_rows(docs: list[Doc], tokenizer, n_ctx: int, eot_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of n_ctx tokens: [EOT] doc [EOT] doc ... ; returns (tokens, kind_ids), both [rows, n_ctx].

    Every row starts with EOT (== BOS), so each row's first document sits at the same positions as
    a prompt run through ``model.to_tokens``. A document that does not fit is cut; the next row
    starts with the next document. kind_ids records which planted behaviour each token came from
    (-1 for EOT), which the latent labeller uses.
    """
    ids = tokenizer([d.text for d in docs], add_special_tokens=False)["input_ids"]
    rows, kinds = [], []
    cur, cur_k = [eot_id], [-1]
    for d, t in zip(docs, ids):
        k = KINDS.index(d.kind)
        take = t[: n_ctx - len(cur)]
        cur += take
        cur_k += [k] * len(take)
        if len(cur) < n_ctx:
            cur.append(eot_id)
            cur_k.append(-1)
        if len(cur) >= n_ctx:
            rows.append(cur[:n_ctx])
            kinds.append(cur_k[:n_ctx])
            cur, cur_k = [eot_id], [-1]
    return torch.tensor(rows, dtype=torch.long), torch.tensor(kinds, dtype=torch.int8)


def train_model(model, rows: torch.Tensor, size: ModelSize, seed: int, log=print) -> list[float]:
    """AdamW with linear warmup + cosine decay; returns the per-step training loss."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=size.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, size.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return size.lr * (step + 1) / warmup
        p = (step - warmup) / max(1, size.steps - warmup)
        return size.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))

    losses: list[float] = []
    model.train()
    t0 = time.time()
    for step in range(size.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        idx = torch.randint(0, rows.shape[0], (size.batch,), generator=g)
        loss = model(rows[idx], return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == size.steps - 1:
            recent = sum(losses[-50:]) / len(losses[-50:])
            log(f"model step {step}/{size.steps} loss {recent:.4f} ({time.time() - t0:.0f}s)")
    model.eval()
    return losses
