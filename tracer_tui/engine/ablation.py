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
    hooks = {site: _patch_hook(site_by_name[site], edits) for site, edits in plan.items()}
    if probe is not None:
        probe_site, probe_pos, probe_latent = probe
        hooks[probe_site.site] = _probe_hook(probe_site, probe_pos, probe_latent, probed, hooks.get(probe_site.site))

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


def _patch_hook(site, edits):
    """x' = decode(f') + c_err * e at each edited (row, pos), where f' scales the chosen latents."""

    def hook(act, hook):
        flat = site.flat(act).clone()
        for (b, p), scales in edits.items():
            x = flat[b, p]
            f = site.encode(x)
            x_hat = site.decode(f, x).to(x.dtype)
            f2 = f.clone()
            for latent, scale in scales.items():
                if latent is not None:
                    f2[latent] = f2[latent] * scale
            err_scale = scales.get(None, 1.0)
            flat[b, p] = site.decode(f2, x).to(x.dtype) + err_scale * (x - x_hat)
        return site.unflat(flat, act)

    return hook


def _probe_hook(site, pos, latent, out, inner):
    def hook(act, hook):
        if inner is not None:
            act = inner(act, hook)
        out["value"] = site.encode(site.flat(act)[:, pos])[:, latent]
        return act

    return hook
