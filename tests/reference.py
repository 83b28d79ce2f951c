"""Independent reference computations for the engine's numbers: raw TransformerLens hooks, no engine code."""

from __future__ import annotations

import torch


def tokens_of(model, prompt):
    return model.to_tokens(prompt, prepend_bos=True)


def metric_with_edits(model, tokens, position, target_id, edits=(), metric="logprob", probe=None):
    """Run the full model with ``edits`` = [(site, pos, vector)] added to activations.

    Returns the metric at ``position`` or, with ``probe=(site, pos, sae, latent)``, that latent's activation.
    """
    captured = {}
    hooks = []
    by_site = {}
    for site, pos, vec in edits:
        by_site.setdefault(site, []).append((pos, vec))

    def make(site):
        def hook(act, hook):
            act = act.clone()
            for pos, vec in by_site.get(site, []):
                act[0, pos] = act[0, pos] + vec.reshape(act[0, pos].shape)
            if probe is not None and probe[0] == site:
                captured["x"] = act[0, probe[1]]
            return act

        return hook

    sites = set(by_site) | ({probe[0]} if probe else set())
    hooks = [(s, make(s)) for s in sites]
    with torch.no_grad():
        logits = model.run_with_hooks(tokens[:, : position + 1], fwd_hooks=hooks)[0, position]
    if probe is not None:
        _, _, sae, latent = probe
        return float(sae.encode(captured["x"].reshape(1, -1))[0, latent])
    if metric == "logprob":
        return float(torch.log_softmax(logits, -1)[target_id])
    return float(logits[target_id])


def site_activation(model, tokens, site, position):
    _, cache = model.run_with_cache(tokens, names_filter=[site])
    return cache[site][0, : position + 1]
