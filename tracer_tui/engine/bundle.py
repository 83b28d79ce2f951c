"""The local model-bundle format: TransformerLens config JSON + safetensors weights + a HF tokenizer directory.

    <dir>/config.json          HookedTransformerConfig(**json)
    <dir>/model.safetensors    HookedTransformer.state_dict()
    <dir>/tokenizer/           AutoTokenizer.from_pretrained(...)

A full bundle puts that under ``model/`` and may carry ``saes/<site>/`` directories saved by SAE-Lens.
"""

from __future__ import annotations

import json
from pathlib import Path

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer"


def model_dir_of(path: Path) -> Path | None:
    """The directory holding config.json for a model dir or a full bundle, or None if it is neither."""
    for candidate in (path, path / "model"):
        if (candidate / CONFIG).is_file() and (candidate / WEIGHTS).is_file():
            return candidate
    return None


def bundle_sae_dirs(path: Path) -> list[Path]:
    """SAE directories shipped inside a full bundle (``<bundle>/saes/*``), in name order."""
    saes = path / "saes"
    if not saes.is_dir():
        return []
    return sorted(p for p in saes.iterdir() if (p / "cfg.json").is_file())


def save_model_dir(model, path: str | Path) -> Path:
    """Write a HookedTransformer (and its tokenizer) in the bundle format."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = {k: v for k, v in model.cfg.to_dict().items() if _jsonable(v)}
    for drop in ("device", "dtype", "n_params", "n_devices"):
        cfg.pop(drop, None)
    (path / CONFIG).write_text(json.dumps(cfg, indent=1, sort_keys=True))
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path / WEIGHTS))
    if model.tokenizer is not None:
        model.tokenizer.save_pretrained(str(path / TOKENIZER))
    return path


def load_model_dir(path: str | Path, device="cpu", dtype=None):
    """Rebuild a HookedTransformer saved by :func:`save_model_dir` (no weight processing: exact weights)."""
    import torch
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    path = Path(path)
    cfg_dict = json.loads((path / CONFIG).read_text())
    known = set(HookedTransformerConfig.__dataclass_fields__)
    cfg = HookedTransformerConfig(**{k: v for k, v in cfg_dict.items() if k in known})
    cfg.device = str(device)
    if dtype is not None:
        cfg.dtype = dtype
    tokenizer = AutoTokenizer.from_pretrained(str(path / TOKENIZER)) if (path / TOKENIZER).is_dir() else None
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    state = load_file(str(path / WEIGHTS))
    model.load_state_dict(state, strict=False)
    return model.to(torch.device(device)).to(dtype or torch.float32)


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
