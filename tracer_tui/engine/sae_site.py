"""One SAE on one site: encoding, decoding and the latent-gradient projection the attribution needs.

The SAE only reads activations: it never sits in the forward path (see docs/attribution.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .density import Density

# SAE-Lens architectures (``sae.cfg.architecture()``) whose decode is ``f @ W_dec + b_dec`` (then optional
# out-normalisation / hook_z reshape). Anything else (transcoders, matching pursuit, ...) decodes through SAE-Lens.
LINEAR_DECODERS = frozenset({"standard", "topk", "jumprelu", "gated", "batchtopk", "matryoshka_batchtopk"})


@dataclass
class ActiveRows:
    """Active latents of one site and, for linear decoders, their decoder rows (same order)."""

    pos_idx: object  # [nnz], sorted
    lat_idx: object  # [nnz]
    rows: object  # [nnz, d_in] W_dec rows, or None
    segments: list  # (position, start, end) slices of the above, one per position with active latents


@dataclass
class LatentInfo:
    label: str
    snippets: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)


class SiteSAE:
    """An SAE bound to its hook point. Activations are handled flattened to [..., pos, d_in]."""

    def __init__(self, sae, site: str, source: str, neuronpedia_id: str | None = None,
                 labels: dict[int, LatentInfo] | None = None, log_sparsity=None):
        self.sae = sae.eval()
        self.sae.requires_grad_(False)
        self.site = site
        self.source = source
        self.neuronpedia_id = neuronpedia_id
        self.labels = labels or {}
        self.d_in = sae.cfg.d_in
        self.d_sae = sae.cfg.d_sae
        # Share of tokens each latent fires on, from SAE-Lens's log10 sparsity tensor; None = unknown.
        self.densities = Density(log_sparsity, self.d_sae)
        # We flatten hook_z heads ourselves so encode/decode see plain vectors.
        self.hook_z = sae.cfg.reshape_activations == "hook_z"
        if self.hook_z:
            sae.turn_off_forward_pass_hook_z_reshaping()
        self.linear_decoder = (
            sae.cfg.architecture() in LINEAR_DECODERS
            and sae.cfg.normalize_activations == "none"
            and not getattr(sae.cfg, "rescale_acts_by_decoder_norm", False)
        )

    # ---- shapes -------------------------------------------------------------------------------
    def flat(self, act):
        """[batch, pos, (heads, d_head) | d] -> [batch, pos, d_in]."""
        return act.flatten(-2) if self.hook_z else act

    def unflat(self, vec, like):
        return vec.reshape(like.shape) if self.hook_z else vec

    # ---- SAE ----------------------------------------------------------------------------------
    def encode(self, x_flat):
        return self.sae.encode(x_flat.to(self.sae.dtype))

    def decode(self, f):
        return self.sae.decode(f)

    def active_rows(self, f):
        """The active latents of codes ``f`` [pos, d_sae] and, for a linear decoder, their decoder rows.

        Gathered once per trace, so reconstruction and latent gradients touch only active rows (the sparse
        projection), never all of d_sae. ``rows`` is None for decoders that are not a plain linear map.
        """
        import torch

        pos_idx, lat_idx = f.nonzero(as_tuple=True)  # sorted by position
        if not self.linear_decoder:
            return ActiveRows(pos_idx, lat_idx, None, [])
        counts = torch.bincount(pos_idx, minlength=f.shape[0]).tolist()
        ends = torch.cumsum(torch.tensor(counts), 0).tolist()
        segments = [(p, end - n, end) for p, (n, end) in enumerate(zip(counts, ends)) if n]
        return ActiveRows(pos_idx, lat_idx, self.decoder_rows(lat_idx), segments)

    def reconstruct(self, f, active: ActiveRows):
        """x_hat for codes ``f`` [pos, d_sae]; a linear decoder sums only the active rows."""
        if active.rows is None:
            return self.decode(f)
        vals = f[active.pos_idx, active.lat_idx]
        out = self.sae.b_dec.expand(f.shape[0], -1).clone()
        return out.index_add_(0, active.pos_idx, vals[:, None] * active.rows)

    def latent_grads(self, grad_flat, f, active: ActiveRows):
        """d metric / d f for the active entries of ``f``, for each of k metrics.

        grad_flat: [k, pos, d_in] gradients of k metrics w.r.t. this site. Returns [k, nnz]: g[p] . d_i for a
        linear decoder, one small matmul per position over its active rows; otherwise a vector-Jacobian
        product of ``sae.decode``.
        """
        import torch

        g = grad_flat.to(self.sae.dtype)
        if active.rows is not None:
            out = g.new_empty((g.shape[0], active.rows.shape[0]))
            for p, start, end in active.segments:
                out[:, start:end] = g[:, p] @ active.rows[start:end].T
            return out
        with torch.enable_grad():
            f_rep = f.detach().unsqueeze(0).expand(g.shape[0], *f.shape).clone().requires_grad_(True)
            (grad_f,) = torch.autograd.grad(self.decode(f_rep), f_rep, grad_outputs=g)
        return grad_f[:, active.pos_idx, active.lat_idx]

    def decoder_rows(self, latents=None):
        """Residual-space directions written by these latents (the W_dec rows; every latent's when None)."""
        return self.sae.W_dec if latents is None else self.sae.W_dec[latents]

    def unit_directions(self, dtype=None):
        """Every latent's decoder direction scaled to unit norm, [d_sae, d_in] (in ``dtype`` when given)."""
        d = self.decoder_rows() if dtype is None else self.decoder_rows().to(dtype)
        return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    # ---- labels -------------------------------------------------------------------------------
    def label(self, latent: int | None) -> str | None:
        if latent is None:
            return None
        info = self.labels.get(latent)
        return info.label if info else None

    def density(self, latent: int | None) -> float | None:
        """Share of tokens (0..1) this latent is active on, or None when the SAE ships no density."""
        return self.densities(latent)

    def is_dense(self, latent: int | None) -> bool | None:
        """density > core.defaults.DENSE_THRESHOLD; None when unknown."""
        return self.densities.is_dense(latent)

    def neuronpedia_url(self, latent: int) -> str | None:
        if not self.neuronpedia_id:
            return None
        return f"https://www.neuronpedia.org/{self.neuronpedia_id}/{latent}"


def load_labels(sae_dir: Path) -> dict[int, LatentInfo]:
    """labels.json beside an SAE saved on disk: {"latent": {"label", "snippets", "promoted", "suppressed"}}."""
    from .bundle import read_labels

    return {
        int(k): LatentInfo(
            label=str(v.get("label", "")),
            snippets=list(v.get("snippets", [])),
            promoted=list(v.get("promoted", [])),
            suppressed=list(v.get("suppressed", [])),
        )
        for k, v in read_labels(sae_dir).items()
    }
