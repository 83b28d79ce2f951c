"""One SAE on one site: encoding, decoding and the latent-gradient projection the attribution needs.

The SAE only reads activations: it never sits in the forward path (see docs/attribution.md).

Encoding and decoding are pure functions of their inputs. SAE-Lens keeps its input normalisation's statistics
(``layer_norm``, ``constant_norm_rescale``) on the SAE object between ``encode`` and ``decode`` and drops them
after one decode; here the statistics are computed from the input, exactly as SAE-Lens does, and applied
explicitly, on a shallow copy of the SAE whose own run-time normalisation is switched off (the weights are
shared, the caller's SAE object is left alone).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import TracerError
from .density import Density

# SAE-Lens architectures (``sae.cfg.architecture()``) whose decode is ``f @ W_dec (+ b_dec)``, optionally with
# ``rescale_acts_by_decoder_norm``; the input normalisation is undone by an affine map per position.
TRANSCODERS = frozenset({"transcoder", "skip_transcoder", "jumprelu_transcoder", "jumprelu_skip_transcoder"})
LINEAR_DECODERS = frozenset({"standard", "topk", "abstopk", "jumprelu", "gated", "batchtopk", "matryoshka_batchtopk",
                             "matching_pursuit"}) | TRANSCODERS
# Normalisations applied at run time (others are identity at run time in SAE-Lens).
RUNTIME_NORMS = frozenset({"layer_norm", "constant_norm_rescale"})
_LN_EPS = 1e-5  # SAE-Lens's run_time_activation_ln_in default
# Hooks whose activations are not one vector per position (attention scores and patterns are [head, q, k]).
NO_POSITION_HOOKS = ("attn.hook_attn_scores", "attn.hook_pattern")


def check_sae(sae, source: str = "") -> None:
    """Refuse, with one line, an SAE this engine cannot trace correctly (never trace it silently wrong)."""
    cfg = sae.cfg
    arch = cfg.architecture()
    meta = cfg.metadata
    name = f"SAE {source!r}" if source else "SAE"
    site = meta.hook_name or ""
    if arch in TRANSCODERS and not getattr(meta, "hook_name_out", None):
        raise TracerError(f"{name} is a transcoder ({arch}) reading {site} that does not say which hook it writes "
                          "(cfg metadata.hook_name_out is empty)")
    if arch not in TRANSCODERS and getattr(meta, "hook_name_out", None):
        raise TracerError(f"{name} names an output hook ({meta.hook_name_out}) but its architecture {arch!r} is not "
                          "a transcoder SAE-Lens knows: not supported")
    if arch == "temporal":
        raise TracerError(f"{name} is a TemporalSAE: not supported (its codes at one position depend on earlier "
                          "positions' activations, which per-position attribution cannot represent)")
    if getattr(meta, "hook_head_index", None) is not None:
        raise TracerError(f"{name} reads only head {meta.hook_head_index} of {site} (hook_head_index): per-head "
                          "SAEs are not supported; use an SAE on all heads of the hook")
    if getattr(meta, "hook_head_index_out", None) is not None:
        raise TracerError(f"{name} writes only head {meta.hook_head_index_out} of {meta.hook_name_out} "
                          "(hook_head_index_out): per-head transcoders are not supported")
    norm = cfg.normalize_activations
    if norm not in RUNTIME_NORMS | {"none", "expected_average_only_in"}:
        raise TracerError(f"{name} has normalize_activations={norm!r} that is not folded into its weights: "
                          "not supported (fold it with SAE-Lens first)")
    if site.endswith(NO_POSITION_HOOKS):
        raise TracerError(f"{name} reads {site}, which is not one vector per position: not supported")


@dataclass
class Norm:
    """The input normalisation of a batch of vectors [N, d]: SAE input = (x - shift) * inv; output * scale + shift."""

    inv: object = None  # [N, 1] or None (identity)
    scale: object = None  # [N, 1] or None
    shift: object = None  # [N, 1] or None

    def apply_in(self, x):
        if self.shift is not None:
            x = x - self.shift
        return x if self.inv is None else x * self.inv

    def apply_out(self, y):
        if self.scale is not None:
            y = y * self.scale
        return y if self.shift is None else y + self.shift

    def scale_at(self, rows):
        """Output scale of the given rows [n] as [n, 1] (None: 1)."""
        return None if self.scale is None else self.scale[rows]


@dataclass
class ActiveRows:
    """Active latents of some codes and their decoder rows as written to the site (same order).

    ``rows`` already carry the input normalisation's output scale at their position, so the reconstruction is
    ``bias[p] + sum_i f_i * rows_i`` and a latent's gradient is ``g[p] . rows_i``.
    """

    pos_idx: object  # [nnz], sorted
    lat_idx: object  # [nnz]
    rows: object  # [nnz, d_in] effective decoder rows
    segments: list  # (position, start, end) slices of the above, one per position with active latents
    bias: object = None  # [pos, d_in] what all-zero codes decode to at each position
    norm: object = None  # the Norm of the input the codes came from


@dataclass
class LatentInfo:
    label: str
    snippets: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)


# Per-head hooks: [batch, pos, n_heads, d_head] (hook_result: d_model), handled flattened to n_heads * d_head.
PER_HEAD_HOOKS = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z", "attn.hook_rot_q", "attn.hook_rot_k",
                  "attn.hook_result")


class SiteSAE:
    """An SAE bound to its hook point. Activations are handled flattened to [..., pos, d_in].

    A transcoder reads ``input_site`` (its cfg ``hook_name``) and writes ``site`` (``hook_name_out``): its nodes
    live at the output site, where it reconstructs ``decode(f) + W_skip x_in`` (skip transcoders); for an SAE both
    are the same hook.
    """

    def __init__(self, sae, site: str, source: str, neuronpedia_id: str | None = None,
                 labels: dict[int, LatentInfo] | None = None, log_sparsity=None):
        check_sae(sae, source)
        self.sae = sae.eval()
        self.sae.requires_grad_(False)
        self.transcoder = sae.cfg.architecture() in TRANSCODERS
        self.input_site = site
        self.site = sae.cfg.metadata.hook_name_out if self.transcoder else site
        # The weight written by the input through a skip transcoder's linear skip connection, [d_out, d_in].
        self.W_skip = getattr(sae, "W_skip", None) if self.transcoder else None
        self.source = source
        self.neuronpedia_id = neuronpedia_id
        self.labels = labels or {}
        self.d_read = sae.cfg.d_in  # width of the input the SAE encodes
        self.d_in = sae.cfg.d_out if self.transcoder else sae.cfg.d_in  # width at ``site``, where it writes
        self.d_sae = sae.cfg.d_sae
        # Share of tokens each latent fires on, from SAE-Lens's log10 sparsity tensor; None = unknown.
        self.densities = Density(log_sparsity, self.d_sae)
        # Per-head hooks ([..., n_heads, d_head]) are flattened here, whatever reshape_activations says.
        self.hook_z = self.site.endswith(PER_HEAD_HOOKS)
        self.norm_mode = sae.cfg.normalize_activations if sae.cfg.normalize_activations in RUNTIME_NORMS else "none"
        self.rescale = bool(getattr(sae.cfg, "rescale_acts_by_decoder_norm", False))
        # Known SAE-Lens decoders are linear maps read row by row; any other decodes through SAE-Lens (VJP).
        self.rows_decoder = sae.cfg.architecture() in LINEAR_DECODERS
        # Exactly ``f @ W_dec + b_dec``, nothing else around it.
        self.linear_decoder = self.rows_decoder and self.norm_mode == "none" and not self.rescale
        if self.sae.hook_z_reshaping_mode:
            # As before: the caller's SAE then takes flattened heads too, like every SAE here.
            self.sae.turn_off_forward_pass_hook_z_reshaping()
        # A shallow copy sharing the weights, with SAE-Lens's stateful run-time normalisation and hook_z reshaping
        # switched off: we flatten and normalise ourselves, so its encode/decode are pure.
        # Without a run-time normalisation the SAE itself is already pure and is used as it is.
        self.core = self.sae
        if self.norm_mode != "none":
            core = copy.copy(self.sae)
            core.run_time_activation_norm_fn_in = _identity
            core.run_time_activation_norm_fn_out = _identity
            core.turn_off_forward_pass_hook_z_reshaping()
            self.core = core

    # ---- shapes -------------------------------------------------------------------------------
    def flat(self, act):
        """[batch, pos, (heads, d_head) | d] -> [batch, pos, d_in]."""
        return act.flatten(2) if act.dim() > 3 else act

    def unflat(self, vec, like):
        return vec.reshape(like.shape)

    # ---- normalisation --------------------------------------------------------------------------
    def norm_of(self, x2) -> Norm:
        """The run-time input normalisation of vectors x2 [N, d_in] (sae dtype), computed as SAE-Lens does."""
        if self.norm_mode == "layer_norm":
            mu = x2.mean(dim=-1, keepdim=True)
            std = (x2 - mu).std(dim=-1, keepdim=True)
            return Norm(inv=1.0 / (std + _LN_EPS), scale=std, shift=mu)
        if self.norm_mode == "constant_norm_rescale":
            coeff = (self.d_read**0.5) / x2.norm(dim=-1, keepdim=True)
            return Norm(inv=coeff, scale=1.0 / coeff)
        return Norm()

    def _norm(self, x, n_rows: int) -> Norm:
        """The output side of the normalisation (identity for transcoders: SAE-Lens does not undo it there)."""
        if self.norm_mode == "none" or self.transcoder:
            return Norm()
        if x is None:
            raise TracerError(f"SAE {self.source!r} normalises its input ({self.norm_mode}): decoding needs the "
                              "input the codes came from")
        return self.norm_of(x.reshape(n_rows, self.d_read).to(self.sae.dtype))

    def skip(self, x_in):
        """A skip transcoder's W_skip x_in [..., d_out] (None for anything else)."""
        if self.W_skip is None:
            return None
        return x_in.to(self.sae.dtype) @ self.W_skip.T

    # ---- SAE ----------------------------------------------------------------------------------
    def encode(self, x_flat):
        """Codes [..., d_sae] of vectors [..., d_in]; a pure function of x (any leading shape, 1-D included)."""
        x2 = x_flat.reshape(-1, self.d_read).to(self.sae.dtype)
        f = self.core.encode(self.norm_of(x2).apply_in(x2))
        return f.reshape(*x_flat.shape[:-1], self.d_sae)

    def decode(self, f, x=None):
        """Reconstruction [..., d_in] of codes f [..., d_sae]; ``x`` (the encoded input) sets the normalisation.

        For a transcoder this is the decoder alone, without the skip connection (see ``reconstruction``)."""
        f2 = f.reshape(-1, self.d_sae)
        out = self._norm(x, f2.shape[0]).apply_out(self.core.decode(f2))
        return out.reshape(*f.shape[:-1], self.d_in)

    def reconstruction(self, f, x_in):
        """What the SAE puts at its site for codes f read from x_in: decode, plus the skip connection if any."""
        out = self.decode(f, x_in)
        skip = self.skip(x_in)
        return out if skip is None else out + skip.to(out.dtype)

    def active_rows(self, f, x=None):
        """The active latents of codes ``f`` [pos, d_sae] and their effective decoder rows.

        Gathered once per trace, so reconstruction and latent gradients touch only active rows (the sparse
        projection), never all of d_sae. ``x`` [pos, d_read] is the input f was encoded from (needed when the
        SAE normalises its input, and for a skip transcoder's skip term, which goes into ``bias``).
        """
        import torch

        norm = self._norm(x, f.shape[0])
        pos_idx, lat_idx = f.nonzero(as_tuple=True)  # sorted by position
        if not self.rows_decoder:
            return ActiveRows(pos_idx, lat_idx, None, [], None, norm)  # (transcoders are all row decoders)
        counts = torch.bincount(pos_idx, minlength=f.shape[0]).tolist()
        ends = torch.cumsum(torch.tensor(counts), 0).tolist()
        segments = [(p, end - n, end) for p, (n, end) in enumerate(zip(counts, ends)) if n]
        rows = self.decoder_rows(lat_idx)
        scale = norm.scale_at(pos_idx)
        if scale is not None:
            rows = rows * scale
        zero = torch.zeros((1, self.d_sae), dtype=self.sae.dtype, device=f.device)
        bias = norm.apply_out(self.core.decode(zero).expand(f.shape[0], -1))
        skip = self.skip(x) if self.W_skip is not None else None
        if skip is not None:
            bias = bias + skip.reshape(f.shape[0], self.d_in)
        return ActiveRows(pos_idx, lat_idx, rows, segments, bias, norm)

    def reconstruct(self, f, active: ActiveRows):
        """x_hat for codes ``f`` [pos, d_sae]: the bias plus the active rows only (else SAE-Lens's decode)."""
        if active.rows is None:
            out = (active.norm or Norm()).apply_out(self.core.decode(f))
            return out if active.bias is None else out + active.bias
        vals = f[active.pos_idx, active.lat_idx].to(active.rows.dtype)
        out = active.bias.to(active.rows.dtype).clone()
        return out.index_add_(0, active.pos_idx, vals[:, None] * active.rows)

    def latent_grads(self, grad_flat, f, active: ActiveRows):
        """d metric / d f for the active entries of ``f``, for each of k metrics.

        grad_flat: [k, pos, d_in] gradients of k metrics w.r.t. this site. Returns [k, nnz]: g[p] . d_i, one
        small matmul per position over its active rows. Without rows (``active.rows`` None), a vector-Jacobian
        product of ``decode`` (with the normalisation kept in ``active.norm``).
        """
        import torch

        g = grad_flat.to(self.sae.dtype)
        if active.rows is not None:
            out = g.new_empty((g.shape[0], active.rows.shape[0]))
            for p, start, end in active.segments:
                out[:, start:end] = g[:, p] @ active.rows[start:end].T.to(g.dtype)
            return out
        with torch.enable_grad():
            f_rep = f.detach().unsqueeze(0).expand(g.shape[0], *f.shape).clone().requires_grad_(True)
            x_hat = (active.norm or self._norm(None, f.shape[0])).apply_out(self.core.decode(f_rep))
            (grad_f,) = torch.autograd.grad(x_hat, f_rep, grad_outputs=g)
        return grad_f[:, active.pos_idx, active.lat_idx]

    def decoder_rows(self, latents=None):
        """Directions written by these latents (the W_dec rows, over their norms with rescale_acts_by_decoder_norm;
        every latent's when None), in the SAE's normalised input space."""
        w = self.sae.W_dec if latents is None else self.sae.W_dec[latents]
        return w / w.norm(dim=-1, keepdim=True) if self.rescale else w

    def unit_directions(self, dtype=None):
        """Every latent's decoder direction scaled to unit norm, [d_sae, d_in] (in ``dtype`` when given)."""
        d = self.decoder_rows() if dtype is None else self.decoder_rows().to(dtype)
        return d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    # ---- labels -------------------------------------------------------------------------------
    def label(self, latent: int | None) -> str | None:
        """Shipped or from a labels file; else, for an SAE with a neuronpedia_id, Neuronpedia's (fetched once per
        latent and cached on disk; never while offline): every trace's nodes get it, in the CLI and the TUI."""
        if latent is None:
            return None
        info = self.labels.get(latent)
        if info is not None and info.label:
            return info.label
        if self.neuronpedia_id:
            from .neuronpedia import fetch_into

            return fetch_into(self, latent)
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


def _identity(x):
    return x


def model_warnings(site_sae: SiteSAE, model_name: str) -> list[str]:
    """One-line warnings about an SAE that loads but may not belong to this model (its metadata names another)."""
    named = site_sae.sae.cfg.metadata.model_name
    if not named or _model_key(named) == _model_key(model_name):
        return []
    return [f"SAE {site_sae.source!r} was trained on model {named!r}, not the loaded {model_name!r}: its latents "
            "may not mean what their labels say"]


def _model_key(name: str) -> str:
    """A model name compared loosely: TransformerLens aliases resolved, case and organisation prefix ignored."""
    try:
        from transformer_lens.loading_from_pretrained import get_official_model_name

        name = get_official_model_name(name)
    except Exception:  # not a TransformerLens name (local or in-memory models): compare as given
        pass
    return name.rsplit("/", 1)[-1].lower()


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


def check_inputs(adapter, saes) -> None:
    """A transcoder's input hook exists, fires once per forward pass and has the width it encodes (its output
    site is checked like any SAE's site)."""
    reads = [s for s in saes if s.input_site != s.site]
    for s in reads:
        if not adapter.has_hook(s.input_site):
            raise TracerError(f"transcoder {s.source!r} reads hook {s.input_site!r}, which model "
                              f"{adapter.info().name!r} does not have")
    if not reads:
        return
    widths = adapter.hook_widths(sorted({s.input_site for s in reads}))
    for s in reads:
        if widths[s.input_site] != s.d_read:
            raise TracerError(f"transcoder {s.source!r} expects d_in={s.d_read} at {s.input_site!r}, but the model's "
                              f"activation there has width {widths[s.input_site]}: it belongs to another model")


def check_plain_saes(saes, what: str) -> None:
    """Refuse, in one line, features not yet written for transcoders or input-normalising SAEs (contrast, steer)."""
    for s in saes:
        if s.transcoder:
            raise TracerError(f"{what} does not support transcoders yet ({s.source!r} reads {s.input_site}, writes "
                              f"{s.site}): trace, expand, ablate and verify do")
        if s.norm_mode != "none" and what == "contrast":
            raise TracerError(f"{what} does not support SAEs that normalise their input yet ({s.source!r}: "
                              f"{s.norm_mode}): trace, expand, ablate and verify do")
