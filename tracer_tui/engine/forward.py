"""The clean forward pass of a trace: site activations kept in the autograd graph, each SAE encoded once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SiteState:
    """What one SAE saw at its site: activations (in the graph), sparse codes, and the error term."""

    act: object  # [1, pos, ...] tensor, part of the autograd graph
    f: object  # [pos, d_sae] dense codes, detached
    active: object  # ActiveRows: positions, latents (and decoder rows) of the active latents
    vals: object  # [nnz] their activations
    err: object  # [pos, d_in] error term x - x_hat, detached
    act_in: object = None  # [1, pos, ...] what the SAE reads (a transcoder's input hook; else ``act``), in the graph

    def __post_init__(self):
        if self.act_in is None:
            self.act_in = self.act

    @property
    def pos_idx(self):
        return self.active.pos_idx

    @property
    def lat_idx(self):
        return self.active.lat_idx


@dataclass
class CleanRun:
    tokens: object  # [1, pos] (truncated after the target position)
    logits: object  # [1, vocab] at the target position, in the graph
    sites: list[SiteState]
    resid_pre: dict  # layer -> [1, pos, d_model] detached, for resuming ablation runs


def clean_run(adapter, site_saes, tokens, position: int) -> CleanRun:
    """One forward pass to ``position`` (later tokens cannot matter), recording every site."""
    import torch

    tokens = tokens[:, : position + 1]
    acts: dict[str, object] = {}
    resid_pre: dict[int, object] = {}

    keep_site = site_recorder(acts)

    def keep_resid(act, hook):
        resid_pre[int(hook.name.split(".")[1])] = act.detach()

    hooks = {f"blocks.{layer}.hook_resid_pre": keep_resid for layer in range(adapter.n_layers)}
    site_names = {s.site for s in site_saes} | {s.input_site for s in site_saes}
    hooks = {name: fn for name, fn in hooks.items() if name not in site_names}
    hooks.update({name: _both(keep_site, keep_resid) if name.endswith("hook_resid_pre") else keep_site
                  for name in site_names})
    with torch.enable_grad(), adapter.hooks(hooks):
        resid = adapter.run(tokens)
        # With an SAE after the last block (ln_final.*), every position goes through the final norm, so its
        # nodes sit at their own positions.
        logits = adapter.logits_at(resid, position, all_positions=adapter.reads_final(site_names))

    states = []
    with torch.no_grad():
        for s in site_saes:
            act, act_in = acts[s.site], acts[s.input_site]
            x = s.flat(act.detach())[0]
            x_in = s.flat(act_in.detach())[0]
            f = s.encode(x_in)
            active = s.active_rows(f, x_in)
            err = x - s.reconstruct(f, active).to(x.dtype)
            states.append(SiteState(act=act, f=f, active=active, vals=f[active.pos_idx, active.lat_idx], err=err,
                                    act_in=act_in))
    return CleanRun(tokens=tokens, logits=logits, sites=states, resid_pre=resid_pre)


def site_recorder(store: dict):
    """A hook keeping each site's activation in the autograd graph, by hook name, in ``store``.

    The first site reached becomes the graph's leaf; later sites stay connected to it, so one backward pass
    gives the gradient at every site.
    """

    def keep(act, hook):
        if not act.requires_grad:
            act = act.detach().requires_grad_(True)
        store[hook.name] = act
        return act

    return keep


def _both(first, second):
    def hook(act, hook):
        out = first(act, hook)
        second(out, hook)
        return out

    return hook
