"""Read/write the demo bundle layout. The engine imports ``load_bundle_model``; keep this free of textual.

<bundle>/model/config.json         HookedTransformerConfig kwargs
<bundle>/model/model.safetensors   HookedTransformer state dict (float32)
<bundle>/model/tokenizer/          Hugging Face tokenizer directory
<bundle>/saes/<site>/              sae.save_model() output + labels.json
<bundle>/means.safetensors         per-site mean activation, key = site
<bundle>/eval.jsonl, metrics.json, card.md
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

MODEL_DIR = "model"
SAES_DIR = "saes"


def site_name(layer: int) -> str:
    return f"blocks.{layer}.hook_resid_pre"


def load_bundle_model(path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """Rebuild the demo HookedTransformer exactly as trained (no weight processing)."""
    import safetensors.torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    model_dir = Path(path) / MODEL_DIR
    cfg = HookedTransformerConfig(**json.loads((model_dir / "config.json").read_text()), device=device, dtype=dtype)
    tok = AutoTokenizer.from_pretrained(str(model_dir / "tokenizer"))
    model = HookedTransformer(cfg, tokenizer=tok)
    # load_state_dict copies into the parameters already on cfg.device / cfg.dtype.
    model.load_state_dict(safetensors.torch.load_file(str(model_dir / "model.safetensors")))
    model.eval()
    return model


def save_bundle_model(model, cfg_dict: dict, tokenizer, path) -> None:
    import safetensors.torch

    model_dir = Path(path) / MODEL_DIR
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text(json.dumps(cfg_dict, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, str(model_dir / "model.safetensors"))
    tokenizer.save_pretrained(str(model_dir / "tokenizer"))


def sae_dirs(path) -> dict[str, Path]:
    """site -> SAE directory, in forward-pass (layer) order."""
    d = Path(path) / SAES_DIR
    dirs = [p for p in d.iterdir() if (p / "cfg.json").exists()] if d.exists() else []
    return {p.name: p for p in sorted(dirs, key=lambda p: int(p.name.split(".")[1]))}


def load_bundle_saes(path, device: str = "cpu") -> dict:
    from sae_lens import SAE

    return {site: SAE.load_from_disk(str(p), device=device) for site, p in sae_dirs(path).items()}


def load_labels(path, site: str) -> dict:
    return json.loads((Path(path) / SAES_DIR / site / "labels.json").read_text())


def read_eval(path) -> list[dict]:
    return [json.loads(line) for line in (Path(path) / "eval.jsonl").read_text().splitlines() if line.strip()]
