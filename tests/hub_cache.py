"""A synthetic Hugging Face hub cache, built at test time: tiny random weights in the real on-disk layout.

    HF_HOME/hub/models--ORG--NAME/
        refs/main                      the commit hash
        blobs/<sha256>                 file contents
        snapshots/<commit>/<path>      symlinks to ../../blobs/<sha256> (plain copies where symlinks fail)

Point ``HF_HOME`` at the returned root and set ``HF_HUB_OFFLINE=1``: TransformerLens, transformers and SAE-Lens
then resolve ``gpt2`` and registry SAEs (``RELEASE/ID``) from these files exactly as from a real cache, with no
network. The model is a GPT-2 (``GPT2LMHeadModel``) with d_model 64, 8 layers (enough for
``gpt2-small-resid-post-v5-32k/blocks.7.hook_resid_post``), 2 heads; every SAE reads it.

Files per repo (what each library actually reads, found by running the loaders offline):

- ``gpt2`` (TransformerLens ``gpt2``): config.json, model.safetensors, generation_config.json, tokenizer.json,
  tokenizer_config.json (written by transformers' ``save_pretrained`` from a random model and a small byte-level
  BPE).
- ``jbloom/GPT2-Small-SAEs-Reformatted`` (release ``gpt2-small-res-jb``, SAE-Lens format, standard):
  ``blocks.L.hook_resid_pre/{cfg.json, sae_weights.safetensors, sparsity.safetensors}``.
- ``jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs`` (``gpt2-small-resid-post-v5-32k``, TopK with
  ``normalize_activations: layer_norm``): ``v5_32k_layer_L.pt/{cfg.json, sae_weights.safetensors}`` (no sparsity),
  layers 1 and 7.
- ``ckkissane/attn-saes-gpt2-small-all-layers`` (``gpt2-small-hook-z-kk``, hook_z): ``<path>.pt`` (a torch
  state dict) and ``<path>_cfg.json``.
- ``google/gemma-scope-2b-pt-res`` (``gemma-scope-2b-pt-res``, JumpReLU ``params.npz``): SAE-Lens hard-codes
  d_in=2304 (Gemma 2 2B) for this format, so no Gemma Scope release can target the tiny GPT-2; the fixture holds
  the smallest real shape (``embedding/width_4k``: 2304 x 4096) to prove the loader and the model-mismatch refusal.
- ``mwhanna/qwen3-0.6b-transcoders-lowl0`` (``mwhanna-qwen3-0.6b-transcoders-lowl0``, a transcoder):
  ``layer_L.safetensors``, ``wandb-config.yaml`` (d_model 64, so it fits the tiny GPT-2's width), ``config.yaml``.
  No transcoder release SAE-Lens lists fits a model small enough to cache here (see docs/compatibility.md), so
  this one proves the loader and its refusal by hook.

Only the first two layers have res-jb and hook-z SAEs: the rest of each release stays "missing from the cache".
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

D_MODEL = 64
N_LAYERS = 8
N_HEADS = 2
N_CTX = 64
D_SAE = 96

RES_JB = "gpt2-small-res-jb"
V5_32K = "gpt2-small-resid-post-v5-32k"
HOOK_Z = "gpt2-small-hook-z-kk"
GEMMA_SCOPE = "gemma-scope-2b-pt-res"
GEMMA_SCOPE_ID = "embedding/width_4k/average_l0_6"
TRANSCODER = "mwhanna-qwen3-0.6b-transcoders-lowl0"


def _commit(repo_id: str) -> str:
    return hashlib.sha1(repo_id.encode()).hexdigest()  # 40 hex digits, like a git commit


class HubRepo:
    """One model repo in the cache; ``add`` writes a file as a blob plus a snapshot symlink."""

    def __init__(self, hub: Path, repo_id: str):
        self.root = hub / ("models--" + repo_id.replace("/", "--"))
        self.commit = _commit(repo_id)
        (self.root / "refs").mkdir(parents=True, exist_ok=True)
        (self.root / "refs" / "main").write_text(self.commit)  # no trailing newline, like huggingface_hub
        (self.root / "blobs").mkdir(exist_ok=True)
        self.snapshot = self.root / "snapshots" / self.commit
        self.snapshot.mkdir(parents=True, exist_ok=True)

    def add(self, path: str, data: bytes) -> Path:
        digest = hashlib.sha256(data).hexdigest()
        blob = self.root / "blobs" / digest
        if not blob.exists():
            blob.write_bytes(data)
        link = self.snapshot / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.exists() or link.is_symlink():
            link.unlink()
        try:
            link.symlink_to(os.path.relpath(blob, link.parent))
        except OSError:  # no symlinks (e.g. Windows without developer mode): huggingface_hub copies too
            shutil.copyfile(blob, link)
        return link

    def add_file(self, path: str, source: Path) -> Path:
        return self.add(path, Path(source).read_bytes())

    def add_json(self, path: str, obj) -> Path:
        return self.add(path, json.dumps(obj, indent=2).encode())


def _tensors_bytes(tensors: dict) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in tensors.items()})


def _gen(seed: int):
    import torch

    return torch.Generator().manual_seed(seed)


def _sae_tensors(d_in: int, d_sae: int, seed: int, extra: dict | None = None) -> dict:
    import torch

    g = _gen(seed)
    out = {
        "W_enc": torch.randn(d_in, d_sae, generator=g) / d_in**0.5,
        "W_dec": torch.randn(d_sae, d_in, generator=g) / d_in**0.5,
        "b_enc": torch.randn(d_sae, generator=g) * 0.1,
        "b_dec": torch.randn(d_in, generator=g) * 0.05,
    }
    out.update(extra or {})
    return out


def add_gpt2(hub: Path, repo_id: str = "gpt2", full_size: bool = False, **config) -> Path:
    """TransformerLens ``gpt2`` -> HF repo ``gpt2``: a random GPT2LMHeadModel and a small BPE tokenizer.

    ``full_size``: GPT-2 small's real shapes (768 wide, 12 layers, 50257-token vocabulary, 1024 positions), so
    loading and tracing cost what they cost on the real weights; ``config`` overrides any GPT2Config field."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from helpers import tiny_tokenizer

    from tracer_tui.engine.quiet import disable_progress_bars

    disable_progress_bars()  # save_pretrained's "Writing model shards" bar
    tok = tiny_tokenizer()
    # n_ctx: the real gpt2 config.json has it and TransformerLens reads it (transformers 5 no longer writes it).
    shape = (dict(vocab_size=50257, n_positions=1024, n_ctx=1024, n_embd=768, n_layer=12, n_head=12) if full_size
             else dict(vocab_size=len(tok), n_positions=N_CTX, n_ctx=N_CTX, n_embd=D_MODEL, n_layer=N_LAYERS,
                       n_head=N_HEADS))
    cfg = GPT2Config(**{**shape, **config}, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     architectures=["GPT2LMHeadModel"])
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg)
    with torch.no_grad():  # larger weights than the default init, so attributions are far from zero
        g = _gen(0)
        for p in model.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * (0.3 if not full_size else 0.02))
    repo = HubRepo(hub, repo_id)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        for f in sorted(Path(tmp).iterdir()):
            if f.is_file():
                repo.add_file(f.name, f)
    return repo.snapshot


def add_res_jb(hub: Path, layers=range(2), d_in: int = D_MODEL, d_sae: int = D_SAE, post: tuple = (),
               b_enc=None) -> None:
    """SAE-Lens format (cfg.json, sae_weights.safetensors, sparsity.safetensors), standard ReLU SAEs: on
    ``blocks.L.hook_resid_pre`` for each of ``layers`` and ``blocks.L.hook_resid_post`` for each of ``post``.
    ``b_enc(hook)``: one encoder bias for all of that SAE's latents (to set how many fire), else random."""
    import torch

    repo = HubRepo(hub, "jbloom/GPT2-Small-SAEs-Reformatted")
    hooks = [(f"blocks.{layer}.hook_resid_pre", layer) for layer in layers]
    hooks += [(f"blocks.{layer}.hook_resid_post", layer) for layer in post]
    for i, (hook, layer) in enumerate(hooks):
        # A pre-6.0 config, as the real release ships it (SAE-Lens converts it on load).
        repo.add_json(f"{hook}/cfg.json", {
            "model_name": "gpt2-small", "hook_point": hook, "hook_point_layer": layer, "hook_point_head_index": None,
            "d_in": d_in, "d_sae": d_sae, "dtype": "torch.float32", "device": "cpu", "context_size": 128,
            "apply_b_dec_to_input": True, "activation_fn_str": "relu", "prepend_bos": True,
            "dataset_path": "Skylion007/openwebtext", "normalize_activations": False,
        })
        extra = {"b_enc": torch.full((d_sae,), float(b_enc(hook)))} if b_enc else None
        repo.add(f"{hook}/sae_weights.safetensors", _tensors_bytes(_sae_tensors(d_in, d_sae, 10 + i, extra)))
        log10 = torch.rand(d_sae, generator=_gen(20 + i)) * -4  # log10 firing rates in (-4, 0]
        repo.add(f"{hook}/sparsity.safetensors", _tensors_bytes({"sparsity": log10}))


def add_v5_32k(hub: Path, layers=(1, 7), k: int = 8) -> None:
    """OpenAI v5 TopK SAEs reformatted for SAE-Lens, normalize_activations=layer_norm, no sparsity file."""
    repo = HubRepo(hub, "jbloom/GPT2-Small-OAI-v5-32k-resid-post-SAEs")
    for layer in layers:
        hook = f"blocks.{layer}.hook_resid_post"
        folder = f"v5_32k_layer_{layer}.pt"  # the release's folder names end in .pt
        repo.add_json(f"{folder}/cfg.json", {
            "architecture": "topk", "d_in": D_MODEL, "d_sae": D_SAE, "k": k, "dtype": "float32", "device": "cpu",
            "apply_b_dec_to_input": True, "normalize_activations": "layer_norm", "reshape_activations": "none",
            "metadata": {"sae_lens_version": "6.0.0", "model_name": "gpt2-small", "hook_name": hook,
                         "hook_head_index": None, "prepend_bos": True, "context_size": 64,
                         "dataset_path": "Skylion007/openwebtext"},
        })
        repo.add(f"{folder}/sae_weights.safetensors", _tensors_bytes(_sae_tensors(D_MODEL, D_SAE, 30 + layer)))


def add_hook_z(hub: Path, layers=range(2)) -> None:
    """Connor & Rob's attention SAEs: a torch .pt state dict and a sibling _cfg.json, read on hook_z."""
    import io

    import torch

    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    saes = get_pretrained_saes_directory()[HOOK_Z].saes_map
    repo = HubRepo(hub, "ckkissane/attn-saes-gpt2-small-all-layers")
    for layer in layers:
        path = saes[f"blocks.{layer}.hook_z"]
        repo.add_json(path.split(".pt")[0] + "_cfg.json", {
            "act_size": D_MODEL, "dict_size": D_SAE, "act_name": f"blocks.{layer}.attn.hook_z", "layer": layer,
            "site": "z", "model_name": "gpt2-small",
        })
        buf = io.BytesIO()
        torch.save(_sae_tensors(D_MODEL, D_SAE, 40 + layer), buf)
        repo.add(path, buf.getvalue())


def add_gemma_scope(hub: Path) -> None:
    """Gemma Scope JumpReLU SAE in ``params.npz`` (keys w_enc, w_dec, b_enc, b_dec, threshold): d_in 2304."""
    import io

    import numpy as np

    d_in, d_sae = 2304, 4096  # what SAE-Lens's gemma_2 loader derives from the repo and folder names
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(buf, w_enc=(rng.standard_normal((d_in, d_sae), dtype=np.float32) * 0.02),
             w_dec=(rng.standard_normal((d_sae, d_in), dtype=np.float32) * 0.02),
             b_enc=np.zeros(d_sae, np.float32), b_dec=np.zeros(d_in, np.float32),
             threshold=np.full(d_sae, 0.05, np.float32))
    HubRepo(hub, "google/gemma-scope-2b-pt-res").add(f"{GEMMA_SCOPE_ID}/params.npz", buf.getvalue())


def add_transcoder(hub: Path, layers=range(2)) -> None:
    """mwhanna transcoders: ``layer_L.safetensors`` (W_enc stored transposed) + wandb-config.yaml + config.yaml."""
    import torch

    repo = HubRepo(hub, "mwhanna/qwen3-0.6b-transcoders-lowl0")
    repo.add("wandb-config.yaml", (f"d_model:\n  value: {D_MODEL}\nd_feature:\n  value: {D_SAE}\n"
                                   "batch_size:\n  value: 64\n").encode())
    repo.add("config.yaml", b"model_name: Qwen/Qwen3-0.6B\n")
    for layer in layers:
        t = _sae_tensors(D_MODEL, D_SAE, 50 + layer)
        t["W_enc"] = t["W_enc"].T.contiguous()
        t["W_skip"] = torch.zeros(D_MODEL, D_MODEL)
        repo.add(f"layer_{layer}.safetensors", _tensors_bytes({k: v for k, v in t.items() if k != "W_skip"}))


def build(root: Path, gemma_scope: bool = False) -> Path:
    """The whole cache under ``root`` (the value for HF_HOME). Returns ``root``."""
    hub = Path(root) / "hub"
    hub.mkdir(parents=True, exist_ok=True)
    add_gpt2(hub)
    add_res_jb(hub)
    add_v5_32k(hub)
    add_hook_z(hub)
    add_transcoder(hub)
    if gemma_scope:
        add_gemma_scope(hub)
    return Path(root)
