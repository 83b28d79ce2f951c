"""Measurements shared by the build (to write the card) and the tests (to re-check the card)."""

from __future__ import annotations

import re
from collections import defaultdict

import torch

from .corpus import UNDESIRED_RULE


@torch.no_grad()
def eval_top1(model, rows: list[dict]) -> dict[str, dict]:
    """Top-1 accuracy of the next token after each prompt; grouped by behaviour.

    Prompts are batched by token length (no padding, so positions match single-prompt runs)."""
    by_len: dict[int, list[tuple[torch.Tensor, int, str]]] = defaultdict(list)
    for r in rows:
        toks = model.to_tokens(r["prompt"])[0]
        target = model.to_tokens(r["target"], prepend_bos=False)[0]
        assert target.numel() == 1, f"target {r['target']!r} is not a single token"
        by_len[toks.numel()].append((toks, int(target), r["behaviour"]))
    hits: dict[str, list[int]] = defaultdict(list)
    for items in by_len.values():
        for i in range(0, len(items), 64):
            chunk = items[i : i + 64]
            logits = model(torch.stack([t for t, _, _ in chunk]))[:, -1]
            pred = logits.argmax(-1)
            for (_, tgt, beh), p in zip(chunk, pred.tolist()):
                hits[beh].append(int(p == tgt))
    return {b: {"top1": sum(h) / len(h), "n": len(h)} for b, h in sorted(hits.items())}


@torch.no_grad()
def sample_completions(model, prompt: str, n: int, max_new_tokens: int = 16, temperature: float = 1.0,
                       seed: int = 0) -> list[str]:
    """n on-policy completions at the given temperature, each cut at the first newline or EOT."""
    g = torch.Generator().manual_seed(seed)
    toks = model.to_tokens(prompt).repeat(n, 1)
    start = toks.shape[1]
    for _ in range(max_new_tokens):
        logits = model(toks[:, -model.cfg.n_ctx :])[:, -1].float() / temperature
        nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
        toks = torch.cat([toks, nxt], 1)
    eot = model.tokenizer.eos_token_id
    outs = []
    for row in toks[:, start:].tolist():
        if eot in row:
            row = row[: row.index(eot)]
        outs.append(model.tokenizer.decode(row).split("\n")[0])
    return outs


def persona_mix(model, prompts: list[str], n_per_prompt: int, seed: int, max_new_tokens: int = 16,
                rule: str = UNDESIRED_RULE) -> dict:
    """Share of T=1 completions labelled provocative (undesired) by ``rule``."""
    pat = re.compile(rule)
    labels = []
    for j, p in enumerate(prompts):
        for c in sample_completions(model, p, n_per_prompt, max_new_tokens, 1.0, seed + j):
            labels.append(bool(pat.search(c)))
    frac = sum(labels) / len(labels)
    return {"n_samples": len(labels), "provocative_fraction": frac, "calm_fraction": 1 - frac}


@torch.no_grad()
def ce_loss(model, rows: torch.Tensor, site: str | None = None, sae=None, batch: int = 32) -> float:
    """Mean next-token CE on packed rows; with ``sae`` its reconstruction replaces ``site`` (splice)."""
    hooks = []
    if sae is not None:
        hooks = [(site, lambda act, hook: sae.decode(sae.encode(act)))]
    total, n = 0.0, 0
    for i in range(0, rows.shape[0], batch):
        x = rows[i : i + batch]
        loss = model.run_with_hooks(x, return_type="loss", fwd_hooks=hooks)
        total += loss.item() * x.shape[0]
        n += x.shape[0]
    return total / n


def splice_increase(model, rows: torch.Tensor, site: str, sae) -> dict:
    clean = ce_loss(model, rows)
    spliced = ce_loss(model, rows, site, sae)
    return {"ce_clean": clean, "ce_spliced": spliced, "ce_increase_frac": (spliced - clean) / clean}
