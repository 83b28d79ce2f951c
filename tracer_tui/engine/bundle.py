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
a TracerError naming them, never silently dropped. Every JSON file here is read through ``core.validation`` and
checked against a schema (the file, the field and what was expected in one line); every tensor read (model
weights, SAE weights, means) must be finite and of the shape its config gives.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core import validation as v
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


# The config fields a model cannot be built without a sane value of (the rest TransformerLens checks itself).
MODEL_SCHEMA = {
    "n_layers": v.positive_int(), "d_model": v.positive_int(), "n_ctx": v.positive_int(),
    "d_head": v.positive_int(), "n_heads": v.positive_int(False), "d_vocab": v.positive_int(False),
    "d_mlp": v.Field((int, type(None)), False, lambda x: None if x is None or x >= 1 else "must be at least 1",
                     "a positive integer or null"),
    "act_fn": v.optional((str,)), "normalization_type": v.optional((str,)),
    "positional_embedding_type": v.text(False), "model_name": v.text(False),
    "default_prepend_bos": v.Field((bool,)), "tokenizer_prepends_bos": v.optional((bool,)),
    "seed": v.optional((int,)),
}


def read_config(path) -> dict:
    """config.json of a model directory, refused when it names keys HookedTransformerConfig does not have or a
    field has the wrong type."""
    from transformer_lens import HookedTransformerConfig

    path = Path(path)
    config = v.check(v.read_json(path / CONFIG, "model config"), MODEL_SCHEMA, path / CONFIG, "model config")
    unknown = sorted(set(config) - set(HookedTransformerConfig.__dataclass_fields__))
    if unknown:
        raise TracerError(f"{str(path / CONFIG)!r} has keys this TransformerLens does not know: {', '.join(unknown)}")
    return config


def read_tensors(file, what: str, infinite_ok: frozenset = frozenset()) -> dict:
    """{name: tensor} of a safetensors file; unreadable (truncated, not safetensors) or a NaN/inf in any floating
    tensor is a TracerError naming the file and the tensor."""
    from safetensors.torch import load_file

    file = Path(file)
    if file.is_dir():
        raise v.FileFormatError(file, f"{what} {str(file)!r} is a directory, expected a .safetensors file")
    try:
        tensors = load_file(str(file))
    except Exception as err:  # SafetensorError, OSError, ...: a damaged file, not a crash
        text = str(err).strip().splitlines()
        raise v.FileFormatError(file, f"could not read {what} {str(file)!r} (damaged or truncated?): "
                                      f"{text[0] if text else type(err).__name__}") from None
    check_finite_tensors(tensors, file, what, infinite_ok)
    return tensors


def check_finite_tensors(tensors: dict, file, what: str, infinite_ok: frozenset = frozenset()) -> None:
    """No NaN anywhere; no inf except in the tensors named in ``infinite_ok`` (buffers such as the attention
    mask's ``IGNORE`` = -inf, which are constants, not weights)."""
    import torch

    for name, t in tensors.items():
        if not t.is_floating_point():
            continue
        ok = ~torch.isnan(t) if name in infinite_ok else torch.isfinite(t)
        if not bool(ok.all()):
            bad = int((~ok).sum())
            raise v.FileFormatError(file, f"{what} {str(file)!r}: tensor {name} holds {bad} NaN or infinite "
                                          f"value(s); the file is damaged or was saved from a diverged run")


def load_weights(model, path) -> None:
    """Copy model.safetensors into ``model``; any tensor missing from the file or not in the model, of another
    shape than the config implies, or holding NaN/inf, is an error."""
    path = Path(path)
    own = model.state_dict()
    buffers = frozenset(own) - {name for name, _ in model.named_parameters()}
    tensors = read_tensors(path / WEIGHTS, "model weights", infinite_ok=buffers)
    wrong = [f"{k} is {list(t.shape)}, config.json implies {list(own[k].shape)}" for k, t in tensors.items()
             if k in own and tuple(t.shape) != tuple(own[k].shape)]
    if wrong:
        raise TracerError(f"{str(path / WEIGHTS)!r} does not fit the model in {CONFIG} (d_model, d_vocab, n_ctx, "
                          f"...): {'; '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''}")
    result = model.load_state_dict(tensors, strict=False)
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


SAE_SCHEMA = {"d_in": v.positive_int(), "d_sae": v.positive_int(), "hook_name": v.text(False, non_empty=True),
              "dtype": v.text(False), "architecture": v.text(False), "metadata": v.Field((dict,)),
              "k": v.optional((int,))}
SAE_METADATA_SCHEMA = {"hook_name": v.text(False, non_empty=True), "hook_head_index": v.optional((int,))}
SAE_WEIGHTS = "sae_weights.safetensors"


def read_sae_config(sae_dir) -> dict:
    """cfg.json of an SAE directory, checked: d_in, d_sae positive integers, the hook name a string."""
    file = Path(sae_dir) / SAE_CONFIG
    cfg = v.check(v.read_json(file, "SAE config"), SAE_SCHEMA, file, "SAE config")
    v.check(cfg.get("metadata", {}), SAE_METADATA_SCHEMA, file, "SAE config", prefix="metadata.")
    if "hook_name" not in cfg and "hook_name" not in cfg.get("metadata", {}):
        raise v.FileFormatError(file, f"SAE config {str(file)!r}: field 'hook_name' (or 'metadata.hook_name') is "
                                      "missing; expected the hook the SAE reads, e.g. 'blocks.0.hook_resid_pre'")
    return cfg


def check_sae_weights(sae_dir, cfg: dict) -> None:
    """sae_weights.safetensors must be finite and shaped as cfg.json's d_in and d_sae say."""
    file = Path(sae_dir) / SAE_WEIGHTS
    if not file.is_file():
        return  # SAE-Lens words a missing weights file itself
    tensors = read_tensors(file, "SAE weights")
    d_in, d_sae = cfg["d_in"], cfg["d_sae"]
    expected = {"W_enc": (d_in, d_sae), "W_dec": (d_sae, d_in), "b_enc": (d_sae,), "b_dec": (d_in,)}
    wrong = [f"{k} is {list(tensors[k].shape)}, expected {list(shape)}" for k, shape in expected.items()
             if k in tensors and tuple(tensors[k].shape) != shape]
    if wrong:
        raise v.FileFormatError(file, f"SAE weights {str(file)!r} do not fit {SAE_CONFIG} (d_in={d_in}, "
                                      f"d_sae={d_sae}): {'; '.join(wrong)}")


def load_sae(sae_dir, device="cpu", dtype: str = "float32"):
    """An SAE directory saved by SAE-Lens, its cfg.json and weights checked first; a directory SAE-Lens cannot
    read is a TracerError."""
    from sae_lens import SAE

    cfg = read_sae_config(sae_dir)
    check_sae_weights(sae_dir, cfg)
    try:
        return SAE.load_from_disk(str(sae_dir), device=str(device), dtype=dtype)
    except Exception as err:  # SAE-Lens raises many types; the message is what matters
        text = str(err).strip().splitlines()
        raise TracerError(f"could not load SAE directory {str(sae_dir)!r}: "
                          f"{text[0] if text else type(err).__name__}") from None


def write_labels(sae_dir, labels: dict) -> None:
    (Path(sae_dir) / LABELS).write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n")


LABEL_SCHEMA = {"label": v.text(False), "snippets": v.list_of(str), "promoted": v.list_of(str),
                "suppressed": v.list_of(str)}


def read_labels(sae_dir) -> dict:
    """labels.json beside an SAE ({} when there is none), checked: {"<latent>": {"label": str, "snippets": [str],
    "promoted": [str], "suppressed": [str]}}."""
    path = Path(sae_dir) / LABELS
    if not path.exists():
        return {}
    labels = v.read_json(path, "labels file")
    if not isinstance(labels, dict):
        raise v.FileFormatError(path, f"labels file {str(path)!r} must be an object of latent -> label record, "
                                      f"got a {type(labels).__name__}")
    for key, record in labels.items():
        if not key.isdigit():
            raise v.FileFormatError(path, f"labels file {str(path)!r}: key {key!r} must be a latent number")
        v.check(record, LABEL_SCHEMA, path, "labels file", prefix=f"{key}.")
    return labels


def write_means(path, means: dict) -> None:
    """``path``: a bundle directory or a .safetensors file. ``means``: {site: [d_in] tensor}. Atomic: written to a
    temporary file beside it, then renamed over it, so a reader never sees half a file."""
    import os
    import tempfile

    from safetensors.torch import save_file

    path = Path(path)
    path = path / MEANS if path.is_dir() else path
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    os.close(fd)
    try:
        save_file({k: v_.detach().to("cpu").contiguous() for k, v_ in means.items()}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_means(path) -> dict:
    """{site: tensor} from a means file (a bundle directory or the file itself): 1-D, finite."""
    path = Path(path)
    path = path / MEANS if path.is_dir() else path
    tensors = read_tensors(path, "mean activations")
    for k, t in tensors.items():
        if t.dim() != 1 or not t.is_floating_point():
            raise v.FileFormatError(path, f"mean activations {str(path)!r}: tensor {k} must be a 1-D float vector, "
                                          f"got {list(t.shape)} {t.dtype}")
    return tensors


def write_eval(path, rows: list[dict]) -> None:
    (Path(path) / EVAL).write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_eval(path) -> list[dict]:
    file = Path(path) / EVAL
    return [row for _, row in v.parse_jsonl(file, v.read_text(file, "eval rows"), "eval rows")]


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False
