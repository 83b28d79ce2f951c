"""Latent density: the share of tokens on which a latent is active.

One on-disk format serves every source: SAE-Lens's ``sparsity.safetensors`` beside the SAE weights, one
tensor named ``sparsity`` of shape [d_sae] holding log10(firing rate + 1e-10) (what SAE-Lens training
writes and what many registry releases ship; ``SAE.from_pretrained_with_cfg_and_sparsity`` returns it).
The demo build measures its SAEs on its labelling corpus and writes the same file. An SAE without it has
unknown density (None): never a guess.
"""

from __future__ import annotations

from pathlib import Path

SPARSITY_FILENAME = "sparsity.safetensors"  # sae_lens.constants.SPARSITY_FILENAME
SPARSITY_TENSOR = "sparsity"  # the key SAE-Lens's loaders read
LOG_EPS = 1e-10  # SAE-Lens adds this before log10, so a never-active latent stores -10


def read_log_sparsity(sae_dir):
    """The [d_sae] log10 density tensor from ``<sae_dir>/sparsity.safetensors``, or None if there is none."""
    path = Path(sae_dir) / SPARSITY_FILENAME
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as f:
        if SPARSITY_TENSOR not in f.keys():  # noqa: SIM118 (safe_open is not a dict)
            return None
        return f.get_tensor(SPARSITY_TENSOR)


def write_log_sparsity(sae_dir, density) -> Path:
    """Write measured densities (fractions in [0, 1], [d_sae]) in SAE-Lens's format; returns the file."""
    import safetensors.torch
    import torch

    log = torch.log10(torch.as_tensor(density, dtype=torch.float32).cpu() + LOG_EPS).contiguous()
    path = Path(sae_dir) / SPARSITY_FILENAME
    safetensors.torch.save_file({SPARSITY_TENSOR: log}, str(path))
    return path


def measure_density(sae, acts, batch: int = 8192):
    """Fraction of the rows of ``acts`` [n_tokens, d_in] on which each latent is > 0; [d_sae] float tensor."""
    import torch

    fires = torch.zeros(sae.cfg.d_sae)
    with torch.no_grad():
        for i in range(0, acts.shape[0], batch):
            fires += (sae.encode(acts[i : i + batch]) > 0).sum(0).float().cpu()
    return fires / max(int(acts.shape[0]), 1)


class Density:
    """Per-latent densities of one SAE, from a log10 tensor (or None: every latent unknown)."""

    def __init__(self, log_sparsity=None, d_sae: int | None = None):
        values = None
        if log_sparsity is not None:
            flat = log_sparsity.detach().float().cpu().reshape(-1)
            if d_sae is None or flat.numel() == d_sae:  # a file for another width is not this SAE's
                values = [10.0 ** float(v) for v in flat.tolist()]
        self._values = values

    @property
    def known(self) -> bool:
        return self._values is not None

    def __call__(self, latent: int | None) -> float | None:
        if self._values is None or latent is None or not 0 <= int(latent) < len(self._values):
            return None
        return self._values[int(latent)]

    def is_dense(self, latent: int | None, threshold: float | None = None) -> bool | None:
        from ..core.defaults import is_dense

        return is_dense(self(latent), threshold)


def format_density(d: float | None) -> str:
    """'43% of tokens', '0.12% of tokens', 'unknown'."""
    if d is None:
        return "unknown"
    pct = 100 * d
    if pct >= 10:
        return f"{pct:.0f}% of tokens"
    if pct >= 1:
        return f"{pct:.1f}% of tokens"
    if pct >= 0.01:
        return f"{pct:.2f}% of tokens"
    return "<0.01% of tokens" if d > 10 * LOG_EPS else "0% of tokens"
