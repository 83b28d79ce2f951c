"""On-policy completions: sample N continuations of a prompt, stopping at EOS or at a stop string.

Sampling is inverse-CDF with uniforms drawn from a CPU ``torch.Generator(seed)``, one uniform per completion and
step. Several *groups* of N rows (e.g. unsteered, steered, random-latent controls) share the same uniforms, so
with the same seed a group that is not steered reproduces the unsteered completions exactly and any difference
between groups comes from the intervention, not from sampling noise (common random numbers).
"""

from __future__ import annotations

from .checks import check_prompt
from ..core.defaults import DEFAULT_MAX_TOKENS, DEFAULT_SEED, DEFAULT_STOP, DEFAULT_TEMPERATURE, check_sampling
from ..core.errors import TracerError, check_cancel
from .labeling import Completion


class NonFiniteLogits(TracerError):
    """The model produced NaN/inf logits (e.g. under a too-large steering vector). ``group`` says which rows."""

    def __init__(self, group: int):
        super().__init__(f"the model's logits became NaN or infinite while sampling (group {group})")
        self.group = group


def prompt_ids(adapter, prompt: str) -> list[int]:
    check_prompt(prompt)
    return [int(t) for t in adapter.tokenize(prompt)[0]]


def sample_completions(adapter, prompt: str, n: int, max_tokens: int = DEFAULT_MAX_TOKENS,
                       temperature: float = DEFAULT_TEMPERATURE, seed: int = DEFAULT_SEED, stop=DEFAULT_STOP,
                       progress=None, should_cancel=None) -> list[Completion]:
    """N completions of ``prompt`` (labels unset). Deterministic for a given seed."""
    return sample_groups(adapter, prompt_ids(adapter, prompt), n, max_tokens=max_tokens, temperature=temperature,
                         seed=seed, stop=stop, progress=progress, should_cancel=should_cancel)[0]


def sample_groups(adapter, ids: list[int], n: int, groups: int = 1, max_tokens: int = DEFAULT_MAX_TOKENS,
                  temperature: float = DEFAULT_TEMPERATURE, seed: int = DEFAULT_SEED, stop=DEFAULT_STOP, hooks=None,
                  row_chunk: int | None = None, use_cache: bool = True, progress=None,
                  should_cancel=None) -> list[list[Completion]]:
    """``groups`` x ``n`` completions in one sampling loop; row r of every group uses the same uniforms.

    ``hooks(start, stop)`` returns the forward hooks for batch rows start..stop-1 (rows are group-major:
    row = group * n + i), or None. ``row_chunk`` bounds the rows per forward pass (memory); it does not change
    the result. ``use_cache`` decodes incrementally with a key/value cache (hooks then see the prompt once and
    each new position once, which is the same computation as re-running the whole sequence).
    """
    import torch

    check_sampling(n, max_tokens, temperature)
    n, groups, max_tokens, temperature = int(n), int(groups), int(max_tokens), float(temperature)
    stops = [s for s in (stop or ()) if s]
    n_ctx = adapter.cfg.n_ctx
    if len(ids) + max_tokens > n_ctx:
        raise TracerError(f"the prompt is {len(ids)} tokens; with max tokens {max_tokens} it would exceed the "
                          f"model's context of {n_ctx}: lower max tokens to {max(1, n_ctx - len(ids))} or shorten it")
    rows = n * groups
    chunk = max(1, int(row_chunk or rows))
    chunks = [(start, min(rows, start + chunk)) for start in range(0, rows, chunk)]
    caches = [adapter.kv_cache(end - start) for start, end in chunks] if use_cache else [None] * len(chunks)
    device = adapter.device
    work = torch.float32 if device.type == "mps" else torch.float64
    gen = torch.Generator().manual_seed(int(seed))
    eos = adapter.eos_token_id
    tokens = torch.tensor([ids], dtype=torch.long, device=device).repeat(rows, 1)
    new: list[list[int]] = [[] for _ in range(rows)]
    done = [False] * rows
    report = progress or (lambda step, frac: None)
    for step in range(max_tokens):
        check_cancel(should_cancel)
        report(f"sampling token {step + 1}/{max_tokens}", step / max_tokens)
        u = torch.rand(n, generator=gen, dtype=torch.float64).to(device=device, dtype=work).repeat(groups)
        nxt = torch.empty(rows, dtype=torch.long, device=device)
        live = [i for i in range(rows) if not done[i]]
        for (start, end), cache in zip(chunks, caches):
            if all(done[start:end]):  # rows stay done: their cache may fall behind
                nxt[start:end] = 0
                continue
            # With a KV cache only the tokens it has not seen go in: the whole prompt first, then one per step.
            fresh = tokens[start:end] if cache is None or step == 0 else tokens[start:end, -1:]
            with torch.inference_mode(), adapter.hooks((hooks(start, end) if hooks else None) or {}):
                logits = adapter.next_logits(fresh, cache).to(work)
            bad = ~torch.isfinite(logits).all(-1)
            for r in bad.nonzero().flatten().tolist():
                if not done[start + r]:
                    raise NonFiniteLogits((start + r) // n)
            nxt[start:end] = _pick(logits, u[start:end], temperature)
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        picked = nxt.tolist()
        for i in live:
            t = picked[i]
            if eos is not None and t == eos:
                done[i] = True
                continue
            new[i].append(t)
            if stops:
                cut = _cut_at_stop(adapter, new[i], stops)
                if cut is not None:
                    new[i] = new[i][:cut]
                    done[i] = True
        if all(done):
            break
    report("sampling done", 1.0)
    out = [Completion(adapter.decode_ids(row), None, ids=tuple(row), source="sampled") for row in new]
    return [out[g * n : (g + 1) * n] for g in range(groups)]


def _pick(logits, u, temperature: float):
    import torch

    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, -1)
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None].contiguous(), right=True)[:, 0]
    return idx.clamp_(max=logits.shape[-1] - 1)


def _cut_at_stop(adapter, ids: list[int], stops: list[str]) -> int | None:
    """Number of leading tokens to keep when a stop string appears in the decoded text, else None.

    Keeps the tokens whose text ends before the stop string begins (a token straddling it is dropped).
    """
    text = adapter.decode_ids(ids)
    hits = [text.find(s) for s in stops]
    hits = [h for h in hits if h >= 0]
    if not hits:
        return None
    at = min(hits)
    keep = len(ids)
    while keep > 0 and len(adapter.decode_ids(ids[:keep])) > at:
        keep -= 1
    return keep
