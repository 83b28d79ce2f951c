"""The local bundle format, read and written only here (the engine loads it, the demo build writes it).

A model directory:

    <dir>/config.json          HookedTransformerConfig(**json): every key must be a config field
    <dir>/model.safetensors    HookedTransformer.state_dict(): exactly the model's tensors, none missing or extra
    <dir>/tokenizer/           AutoTokenizer.from_pretrained(...) (optional: without it, prompts are token ids)

A full bundle puts that under ``model/`` and may carry:

    <bundle>/saes/<site>/              an SAE saved by SAE-Lens (cfg.json, sae_weights.safetensors)
                                       + labels.json {"latent": {"label", "snippets", "promoted", "suppressed"}}
    <bundle>/means.safetensors         per-site mean activation, key = site, float32 [d_in]
    <bundle>/eval.jsonl                the demo's held-out eval rows (metrics.json and card.md: see demo/card.py)

Loading is strict: a config key TransformerLens does not know, or a tensor missing from or extra to the model, is
a TracerError naming them, never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.errors import TracerError
from ..core.nodes import site_order_key

MODEL_DIR = "model"
SAES_DIR = "saes"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer"
SAE_CONFIG = "cfg.json"
LABELS = "labels.json"
MEANS = "means.safetensors"
EVAL = "eval.jsonl"

_NOT_SAVED = ("device", "dtype", "n_params", "n_devices")  # set at load time or derived


# ---- layout ------------------------------------------------------------------------------------------------------
def model_dir_of(path: Path) -> Path | None:
    """The directory holding config.json for a model dir or a full bundle, or None if it is neither."""
    for candidate in (Path(path), Path(path) / MODEL_DIR):
        if (candidate / CONFIG).is_file() and (candidate / WEIGHTS).is_file():
            return candidate
    return None


def sae_dirs(path) -> dict[str, Path]:
    """site -> SAE directory shipped inside a full bundle (``<bundle>/saes/<site>``), in forward-pass order."""
    saes = Path(path) / SAES_DIR
    dirs = [p for p in saes.iterdir() if (p / SAE_CONFIG).is_file()] if saes.is_dir() else []
    return {p.name: p for p in sorted(dirs, key=lambda p: (site_order_key(p.name, 10**6), p.name))}


# ---- model -------------------------------------------------------------------------------------------------------
def save_model_dir(model, path, config: dict | None = None, tokenizer=None) -> Path:
    """Write a HookedTransformer as a model directory. ``config`` (the HookedTransformerConfig keyword arguments)
    defaults to the model's own config; ``tokenizer`` to the model's."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = {k: v for k, v in model.cfg.to_dict().items() if k not in _NOT_SAVED and _jsonable(v)}
    (path / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file({k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}, str(path / WEIGHTS))
    tokenizer = tokenizer if tokenizer is not None else model.tokenizer
    if tokenizer is not None:
        tokenizer.save_pretrained(str(path / TOKENIZER))
    return path


def read_config(path) -> dict:
    """config.json of a model directory, refused when it names keys HookedTransformerConfig does not have."""
    from transformer_lens import HookedTransformerConfig

    path = Path(path)
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError) as err:
        raise TracerError(f"could not read {str(path / CONFIG)!r}: {err}") from None
    unknown = sorted(set(config) - set(HookedTransformerConfig.__dataclass_fields__))
    if unknown:
        raise TracerError(f"{str(path / CONFIG)!r} has keys this TransformerLens does not know: {', '.join(unknown)}")
    return config


def load_weights(model, path) -> None:
    """Copy model.safetensors into ``model``; any tensor missing from the file or not in the model is an error."""
    from safetensors.torch import load_file

    path = Path(path)
    result = model.load_state_dict(load_file(str(path / WEIGHTS)), strict=False)
    problems = [f"{what}: {', '.join(sorted(keys))}" for what, keys in
                (("missing", result.missing_keys), ("unexpected", result.unexpected_keys)) if keys]
    if problems:
        raise TracerError(f"{str(path / WEIGHTS)!r} does not fit the model in {CONFIG}; tensors "
                          f"{'; '.join(problems)}")


def load_model_dir(path, device="cpu", dtype=None):
    """Rebuild a HookedTransformer saved by :func:`save_model_dir`, exactly (no weight processing), in eval mode."""
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    path = Path(path)
    cfg = HookedTransformerConfig(**read_config(path))
    cfg.device = str(device)
    if dtype is not None:
        cfg.dtype = dtype
    tokenizer = AutoTokenizer.from_pretrained(str(path / TOKENIZER)) if (path / TOKENIZER).is_dir() else None
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    load_weights(model, path)
    return model.to(torch.device(device)).to(dtype or torch.float32).eval()


# ---- SAEs, labels, means, eval rows ------------------------------------------------------------------------------
def save_sae(sae, path, site: str) -> Path:
    """Write an SAE (SAE-Lens format) to ``<bundle>/saes/<site>``; returns that directory."""
    sae_dir = Path(path) / SAES_DIR / site
    sae.save_model(sae_dir)
    return sae_dir


def load_sae(sae_dir, device="cpu", dtype: str = "float32"):
    """An SAE directory saved by SAE-Lens; a directory SAE-Lens cannot read is a TracerError."""
    from sae_lens import SAE

    try:
        return SAE.load_from_disk(str(sae_dir), device=str(device), dtype=dtype)
    except Exception as err:  # SAE-Lens raises many types; the message is what matters
        raise TracerError(f"could not load SAE directory {str(sae_dir)!r}: {str(err).splitlines()[0]}") from None


def write_labels(sae_dir, labels: dict) -> None:
    (Path(sae_dir) / LABELS).write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n")


def read_labels(sae_dir) -> dict:
    """labels.json beside an SAE, as stored ({} when there is none)."""
    path = Path(sae_dir) / LABELS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_means(path, means: dict) -> None:
    """``path``: a bundle directory or a .safetensors file. ``means``: {site: [d_in] tensor}."""
    from safetensors.torch import save_file

    path = Path(path)
    path = path / MEANS if path.is_dir() else path
    save_file({k: v.detach().to("cpu").contiguous() for k, v in means.items()}, str(path))


def read_means(path) -> dict:
    """{site: tensor} from a means file (a bundle directory or the file itself)."""
    from safetensors.torch import load_file

    path = Path(path)
    path = path / MEANS if path.is_dir() else path
    try:
        return load_file(str(path))
    except Exception as err:  # a corrupt file is the user's to fix, not a crash
        raise TracerError(f"could not read mean activations {str(path)!r}: {str(err).splitlines()[0]}") from None


def write_eval(path, rows: list[dict]) -> None:
    (Path(path) / EVAL).write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_eval(path) -> list[dict]:
    return [json.loads(line) for line in (Path(path) / EVAL).read_text().splitlines() if line.strip()]


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
