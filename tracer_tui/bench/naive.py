"""The approach a user would write by hand: SAE-Lens splices every SAE in with use_error_term=True,
runs forward with full logits, backward, and multiplies each latent's activation by its gradient."""

from __future__ import annotations


def naive_model(setup):
    from sae_lens import HookedSAETransformer

    from ..engine.quiet import quiet

    with quiet():
        model = HookedSAETransformer(setup.model.cfg)
        model.load_state_dict(setup.model.state_dict())
        model.eval()
        for sae in setup.saes:
            model.add_sae(sae, use_error_term=True)
    return model


def naive_attribution(model, sites, tokens, target_id: int):
    import torch

    acts = {}

    def keep(act, hook):
        acts[hook.name] = act
        return act

    hooks = [(f"{site}.hook_sae_acts_post", keep) for site in sites]
    with torch.enable_grad(), model.hooks(fwd_hooks=hooks):
        logits = model(tokens)
        metric = torch.log_softmax(logits[0, -1], -1)[target_id]
        grads = torch.autograd.grad(metric, list(acts.values()))
    return {name: (a * g).detach() for (name, a), g in zip(acts.items(), grads)}
