"""Real interventions: re-run the model with chosen nodes scaled at their sites, errors held fixed.

Each batch row carries its own set of interventions, so verify's k single ablations are one forward pass.
The run resumes at the earliest intervened block from cached clean residuals: earlier blocks can't change.
"""

from __future__ import annotations

from collections import defaultdict

from ..core.nodes import Intervention


def run_interventions(adapter, site_by_name, clean, rows: list[list[Intervention]], position: int,
                      probe=None):
    """Logits [B, vocab] at ``position`` for B rows of interventions.

    ``probe`` = (SiteSAE, pos, latent) also returns that latent's activation in each row (else None).
    """
    import torch

    plan: dict[str, dict[tuple[int, int], dict]] = defaultdict(lambda: defaultdict(dict))
    for b, row in enumerate(rows):
        for iv in row:
            plan[iv.node.site][(b, iv.node.position)][iv.node.latent] = float(iv.scale)

    probed = {}
    inputs: dict[str, object] = {}  # transcoders' input activations in this run, by input hook
    hooks = {site: _patch_hook(site_by_name[site], edits, inputs) for site, edits in plan.items()}
    # A transcoder reads its input hook (reached earlier in the same pass), after any edit made there.
    for name in {site_by_name[site].input_site for site in plan if site_by_name[site].input_site != site}:
        hooks[name] = _keep_input(inputs, hooks.get(name))
    if probe is not None:
        probe_site, probe_pos, probe_latent = probe
        name = probe_site.input_site
        hooks[name] = _probe_hook(probe_site, probe_pos, probe_latent, probed, hooks.get(name))

    n_rows = len(rows)
    tokens = clean.tokens.expand(n_rows, -1)
    layers = [adapter.layer(site) for site in hooks]
    start = min(layers) if layers else adapter.n_layers
    with torch.inference_mode(), adapter.hooks(hooks):
        if 0 < start < adapter.n_layers and start in clean.resid_pre:
            resid = adapter.run(tokens, start_layer=start, start_resid=clean.resid_pre[start].expand(n_rows, -1, -1))
        else:
            resid = adapter.run(tokens)
        logits = adapter.logits_at(resid, position, all_positions=adapter.reads_final(hooks))
    return logits, probed.get("value")


def _patch_hook(site, edits, inputs):
    """x' = x_hat(f') + c_err * e at each edited (row, pos), where f' scales the chosen latents.

    f is read from what the SAE reads in this run: x itself, or a transcoder's input hook (``inputs``); x_hat
    includes a skip transcoder's skip term, so e = x - x_hat(f) is its error at the output site.
    """

    def hook(act, hook):
        flat = site.flat(act).clone()
        read = flat if site.input_site == site.site else inputs[site.input_site]
        for (b, p), scales in edits.items():
            x, x_in = flat[b, p], read[b, p]
            f = site.encode(x_in)
            x_hat = site.reconstruction(f, x_in).to(x.dtype)
            f2 = f.clone()
            for latent, scale in scales.items():
                if latent is not None:
                    f2[latent] = f2[latent] * scale
            err_scale = scales.get(None, 1.0)
            flat[b, p] = site.reconstruction(f2, x_in).to(x.dtype) + err_scale * (x - x_hat)
        return site.unflat(flat, act)

    return hook


def _keep_input(store, inner):
    """Keep the activation at a transcoder's input hook (flattened, after ``inner``'s edit) for its patch hook."""

    def hook(act, hook):
        if inner is not None:
            act = inner(act, hook)
        store[hook.name] = act.flatten(2) if act.dim() > 3 else act
        return act

    return hook


def _probe_hook(site, pos, latent, out, inner):
    def hook(act, hook):
        if inner is not None:
            act = inner(act, hook)
        out["value"] = site.encode((act.flatten(2) if act.dim() > 3 else act)[:, pos])[:, latent]
        return act

    return hook
