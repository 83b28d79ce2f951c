"""Attribution of many metrics at once: one (batched) backward pass, then a sparse projection per site.

For k metrics m_b (the root metric, or k expanded nodes' activations) this gives, for every active latent
(site s, position p, latent i): A_b = f * (g_b[p] . d_i), and for every error node: A_b = e[p] . g_b[p],
where g_b = d m_b / d x_s. See docs/attribution.md.
"""

from __future__ import annotations

from dataclasses import dataclass


def site_grads(metrics, acts):
    """Gradients of each of k metrics w.r.t. each activation tensor: list of [k, ...act[0] shape].

    k > 1 runs as a single vmapped backward (is_grads_batched), never a Python loop of backward passes.
    """
    import torch

    k = metrics.shape[0]
    if not acts:
        return []
    if k == 1:
        grads = torch.autograd.grad(metrics.sum(), acts, retain_graph=True, allow_unused=True)
        grads = [g[0:1] if g is not None else None for g in grads]
    else:
        eye = torch.eye(k, dtype=metrics.dtype, device=metrics.device)
        grads = torch.autograd.grad(metrics, acts, grad_outputs=eye, retain_graph=True, allow_unused=True,
                                    is_grads_batched=True)
        # With a batch-1 forward, the vmapped grads are [k, 1, pos, ...]: drop the unit batch.
        grads = [g[:, 0] if g is not None else None for g in grads]
    return [torch.zeros((k, *a.shape[1:]), dtype=a.dtype, device=a.device) if g is None else g
            for g, a in zip(grads, acts)]


@dataclass
class Candidates:
    """Every node of every site, flattened: the table the ranking indexes into."""

    site: object  # [C] site index
    pos: object  # [C]
    latent: object  # [C], -1 for error nodes
    activation: object  # [C]


def candidate_table(states):
    import torch

    parts = []
    for s_idx, st in enumerate(states):
        n_pos = st.err.shape[0]
        device = st.err.device
        parts.append((
            torch.full((st.pos_idx.numel() + n_pos,), s_idx, device=device),
            torch.cat([st.pos_idx, torch.arange(n_pos, device=device)]),
            torch.cat([st.lat_idx, torch.full((n_pos,), -1, device=device)]),
            torch.cat([st.vals.to(st.err.dtype), st.err.norm(dim=-1)]),
        ))
    cols = list(zip(*parts))
    return Candidates(*(torch.cat(c) for c in cols))


def scores(site_saes, states, grads):
    """[k, C] attributions of every candidate to each of the k metrics (zeros for sites without grads)."""
    import torch

    out = []
    for site, st, g in zip(site_saes, states, grads):
        g_flat = site.flat(g)  # [k, pos, d_in]
        lat = st.vals.to(g_flat.dtype) * site.latent_grads(g_flat, st.f, st.active).to(g_flat.dtype)
        err = torch.einsum("kpd,pd->kp", g_flat, st.err.to(g_flat.dtype))
        out.append(torch.cat([lat, err], dim=1))
    return torch.cat(out, dim=1)


def rank(attr, allowed, top_k: int, offset: int = 0, min_attr: float = 0.0):
    """Per row: indices of the top |attribution| allowed candidates; how many allowed ones exceed min_attr,
    and the sum of their |attribution|."""
    mag = attr.abs().masked_fill(~allowed, -1.0)
    eligible = (mag > min_attr) & allowed
    totals = eligible.sum(dim=1).tolist()
    abs_totals = (attr.abs() * eligible).sum(dim=1).tolist()
    want = min(offset + top_k, attr.shape[1])
    top = mag.topk(want, dim=1).indices if want > 0 else mag[:, :0].long()
    rows = []
    for b in range(attr.shape[0]):
        idx = [i for i in top[b].tolist() if eligible[b, i]]
        rows.append(idx[offset : offset + top_k])
    return rows, totals, abs_totals
