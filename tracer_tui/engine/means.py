"""Per-site mean activations x̄ for mean-ablation mode.

Lookup order: ``<bundle>/means.safetensors`` next to the loaded bundle (key = site, float32 [d_in]); else computed
from a text file (one text per non-empty line, or paragraph blocks) or, by default, from the prompts of
``sample_prompts/*.toml``, averaging over every position except BOS, and cached in
``platformdirs.user_cache_dir("tracer-tui")/means/<hash>.safetensors`` (hash of model, SAEs and texts).

The cache is written atomically (a temporary file renamed over it) and a cache file that cannot be read (truncated,
NaN, wrong shape) is recomputed and replaced; a damaged ``means.safetensors`` shipped in a bundle is an error that
names it (it is the bundle's to fix).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..core.errors import Hint, TracerError, check_cancel
from . import bundle


def bundle_means_path(tracer) -> Path | None:
    src = Path(str(tracer.adapter.source))
    for cand in (src / bundle.MEANS, src.parent / bundle.MEANS):
        if cand.is_file():
            return cand
    return None


def load_means(path, tracer) -> dict | None:
    """Means for every site from a safetensors file, or None when a site is missing or has the wrong width."""
    raw = bundle.read_means(path)
    out = {}
    for s in tracer.saes:
        v = raw.get(s.site)
        if v is None or v.numel() != s.d_in:
            return None
        out[s.site] = v.reshape(-1)
    return out


def sample_prompt_texts() -> list[str]:
    from ..core.prompts import load_sample_prompts
    from ..core.shipped import shipped_dir

    folder = shipped_dir("sample_prompts")
    if not folder.is_dir():
        return []
    return [p.prompt for p in load_sample_prompts(folder)]


def read_texts(path) -> list[str]:
    from ..core.validation import expand_path, read_text

    text = read_text(expand_path(path, "means text file"), "means text file")
    texts = [t.strip() for t in text.split("\n\n") if t.strip()]
    if not texts:
        raise TracerError(f"means text file {str(path)!r} is empty")
    return texts


def site_means(tracer, text_file=None, texts: list[str] | None = None, cache_dir=None, progress=None,
               should_cancel=None) -> dict:
    """{site: mean activation [d_in]} (float32, on CPU). See the module docstring for where it comes from."""
    if text_file is None and texts is None:
        path = bundle_means_path(tracer)
        if path is not None:
            found = load_means(path, tracer)
            if found is not None:
                return found
    if texts is None:
        texts = read_texts(text_file) if text_file is not None else sample_prompt_texts()
    if not texts:
        raise TracerError("mean mode needs mean activations: the model has no means.safetensors and no texts to "
                          "compute them from", Hint(("means_text",)))
    path = _cache_dir(cache_dir) / f"{_key(tracer, texts)}.safetensors"
    if path.is_file():
        try:
            found = load_means(path, tracer)
        except TracerError:  # a damaged cache (truncated, NaN, wrong shape) is rebuilt below
            found = None
        if found is not None:
            return found
    means = compute_means(tracer, texts, progress=progress, should_cancel=should_cancel)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        bundle.write_means(path, means)
    except OSError:
        pass  # a read-only cache only costs a recompute next time
    return means


def compute_means(tracer, texts: list[str], progress=None, should_cancel=None, latents: bool = False) -> dict:
    """{site: mean [d_in]} of each site's activation, or with ``latents`` {site: mean [d_sae]} of each latent's
    activation (what the SAE encodes from what it reads), over every position of ``texts`` except BOS."""
    import torch

    adapter = tracer.adapter
    width = (lambda s: s.d_sae) if latents else (lambda s: s.d_in)
    sums = {s.site: torch.zeros(width(s), dtype=torch.float64) for s in tracer.saes}
    count = 0
    grabbed: dict = {}

    def grab(act, hook):
        grabbed[hook.name] = act

    hooked = {s.input_site if latents else s.site for s in tracer.saes}
    for i, text in enumerate(texts):
        check_cancel(should_cancel)
        if progress:
            progress(f"mean activations {i + 1}/{len(texts)}", i / len(texts))
        tokens = adapter.tokenize(text)[:, : adapter.cfg.n_ctx]
        skip = 1 if adapter.prepends_bos else 0
        if tokens.shape[1] <= skip:
            continue
        with torch.inference_mode(), adapter.hooks({name: grab for name in hooked}):
            adapter.run(tokens)
            for s in tracer.saes:
                rows = (s.encode(s.flat(grabbed[s.input_site])[0, skip:]) if latents
                        else s.flat(grabbed[s.site])[0, skip:])
                sums[s.site] += rows.to("cpu", torch.float64).sum(0)
        count += tokens.shape[1] - skip
    if count == 0:
        raise TracerError("no tokens to compute mean activations from")
    means = {k: (v / count).to(torch.float32) for k, v in sums.items()}
    bad = [k for k, v in means.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise TracerError(f"the mean activations at {', '.join(bad)} are NaN or infinite: the model's activations "
                          "overflow on these texts")
    return means


def _cache_dir(cache_dir) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tracer-tui")) / "means"


def _key(tracer, texts) -> str:
    """Model, SAEs (with a weight fingerprint: in-memory models have no stable name) and texts."""
    import torch

    with torch.no_grad():
        model_fp = tracer.adapter.fingerprint()
        sae_fp = [[s.site, s.source, float(s.decoder_rows().double().sum())] for s in tracer.saes]
    blob = json.dumps([model_fp, sae_fp, texts], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]
