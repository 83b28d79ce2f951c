"""Build the whole demo bundle deterministically.

    python -m tracer_tui.demo.build --out tracer_tui/demo/bundle          # the committed bundle
    python -m tracer_tui.demo.build --out /tmp/b --tiny                   # seconds; for tests

Seeded end to end (corpus, tokenizer, init, batches, SAEs, sampling) and single-process on CPU, so
the same command on the same torch version rebuilds the same bundle.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..core.defaults import DENSE_THRESHOLD
from ..engine import bundle
from ..engine.density import write_log_sparsity
from .card import write_card, write_metrics
from .corpus import answer_words, eval_examples, generate_corpus
from .labels import find_concept_latents, label_site
from .measure import eval_top1, persona_mix, splice_increase
from .tokenizer import EOT, load_tokenizer, save_tokenizer, train_tokenizer
from .train_model import ModelSize, model_config_dict, pack_rows, train_model
from .train_saes import SAESize, cache_activations, sae_stats, to_sae_lens, train_topk_sae


@dataclass
class BuildConfig:
    seed: int = 0
    n_docs: int = 250_000
    vocab_size: int = 2048
    model: ModelSize = field(default_factory=ModelSize)
    sae: SAESize = field(default_factory=SAESize)
    sae_rows: int = 2400  # rows of activations cached for SAE training
    label_rows: int = 400  # rows used for top-activating snippets / dead-latent count
    heldout_rows: int = 96  # fresh rows (another seed) for FVE / L0 / splice CE
    persona_samples_per_prompt: int = 25
    tiny: bool = False


def tiny_config() -> BuildConfig:
    return BuildConfig(
        n_docs=3000, model=ModelSize(d_model=32, n_heads=2, n_layers=2, n_ctx=64, steps=30, batch=8),
        sae=SAESize(expansion=2, k=8, steps=40, batch=512, dead_after_tokens=5000),
        sae_rows=64, label_rows=32, heldout_rows=8, persona_samples_per_prompt=2, tiny=True,
    )


def split_rows(n_rows: int, seed: int, sae_rows: int, label_rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded, disjoint row indices: (SAE training rows, labelling rows)."""
    perm = torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed + 2))
    return perm[:sae_rows], perm[sae_rows : sae_rows + label_rows]


def label_and_density(model, sae, sae_dir: Path, acts: torch.Tensor, rows: torch.Tensor, kinds: torch.Tensor):
    """Measure each latent's density on the labelling tokens and write it as SAE-Lens's sparsity.safetensors
    (log10), then label the latents (labels.json). Returns (per-site metrics, stats for the concept search)."""
    lab = sae_stats(sae, acts)
    density = lab["fires"] / acts.shape[0]
    write_log_sparsity(sae_dir, density)
    labels, stats = label_site(model, sae, acts, rows, kinds, lab["fires"])
    bundle.write_labels(sae_dir, labels)
    return {"dead_fraction": lab["dead_fraction"], "n_live": len(labels),
            "n_dense": int((density > DENSE_THRESHOLD).sum()), "density_tokens": int(acts.shape[0])}, stats


def build(out: Path, cfg: BuildConfig, log=print, reuse_model: Path | None = None) -> dict:
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    t_start = time.time()
    torch.manual_seed(cfg.seed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    # 1. corpus + tokenizer
    docs = generate_corpus(cfg.n_docs, cfg.seed)
    # Save then reload: TransformerLens re-opens the tokenizer from its directory to add BOS.
    tokenizer_dir = out / bundle.MODEL_DIR / bundle.TOKENIZER
    save_tokenizer(train_tokenizer((d.text for d in docs), cfg.vocab_size, answer_words()), tokenizer_dir)
    tokenizer = load_tokenizer(tokenizer_dir)
    eot = tokenizer.convert_tokens_to_ids(EOT)
    rows, kinds = pack_rows(docs, tokenizer, cfg.model.n_ctx, eot)
    log(f"corpus: {len(docs)} docs -> {rows.shape[0]} rows; vocab {len(tokenizer)} ({time.time() - t_start:.0f}s)")

    # 2. model: train the HookedTransformer itself, then save and reload through the bundle format
    cfg_dict = model_config_dict(cfg.model, len(tokenizer), cfg.seed)
    model = HookedTransformer(HookedTransformerConfig(**cfg_dict), tokenizer=tokenizer)
    if reuse_model is not None:
        # Same seed + config => the same trained weights; reusing them only saves time when
        # re-running the SAE stages. Refuse anything that was built differently.
        prev = json.loads((reuse_model / "metrics.json").read_text())
        if prev["build"]["config"]["model"] != asdict(cfg.model) or prev["model"]["config"] != cfg_dict:
            raise ValueError(f"{reuse_model} was built with a different model config")
        bundle.load_weights(model, reuse_model / bundle.MODEL_DIR)
        losses = [prev["model"]["final_train_loss"]]
        log(f"model: reused trained weights from {reuse_model}")
    else:
        losses = train_model(model, rows, cfg.model, cfg.seed, log)
    bundle.save_model_dir(model, out / bundle.MODEL_DIR, config=cfg_dict, tokenizer=tokenizer)
    model = bundle.load_model_dir(out / bundle.MODEL_DIR)  # every later number is measured on exactly what ships
    heldout_docs = generate_corpus(max(cfg.heldout_rows * 8, 64), cfg.seed + 1)
    heldout_rows = pack_rows(heldout_docs, model.tokenizer, cfg.model.n_ctx, eot)[0][: cfg.heldout_rows]
    from .measure import ce_loss

    metrics: dict = {
        "model": {"config": cfg_dict, "steps": cfg.model.steps, "final_train_loss": sum(losses[-50:]) / len(losses[-50:]),
                  "heldout_ce": ce_loss(model, heldout_rows)},
    }

    # 3. eval set + behaviour metrics
    ev = eval_examples(cfg.seed)
    bundle.write_eval(out, ev)
    metrics["eval"] = eval_top1(model, [r for r in ev if r["behaviour"] != "persona"])
    persona_prompts = [r["prompt"] for r in ev if r["behaviour"] == "persona"]
    from .corpus import UNDESIRED_RULE

    metrics["persona"] = {**persona_mix(model, persona_prompts, cfg.persona_samples_per_prompt, cfg.seed),
                          "temperature": 1.0, "max_new_tokens": 16, "rule": UNDESIRED_RULE}
    log(f"eval {metrics['eval']} persona {metrics['persona']} ({time.time() - t_start:.0f}s)")

    # 4. SAEs, one per resid_pre site
    sites = [f"blocks.{layer}.hook_resid_pre" for layer in range(cfg.model.n_layers)]
    sae_idx, label_idx = split_rows(rows.shape[0], cfg.seed, cfg.sae_rows, cfg.label_rows)
    acts = cache_activations(model, rows[sae_idx], sites)
    label_acts = cache_activations(model, rows[label_idx], sites)
    heldout_acts = cache_activations(model, heldout_rows, sites)
    means = {s: acts[s].view(-1, cfg.model.n_ctx, cfg_dict["d_model"])[:, 1:].mean((0, 1)).contiguous() for s in sites}
    bundle.write_means(out, means)
    metrics["saes"], all_stats = {}, {}
    for li, site in enumerate(sites):
        weights = train_topk_sae(acts[site], cfg.sae, cfg.seed + 10 + li, log, site)
        sae = to_sae_lens(weights, cfg.sae.k, site, context_size=cfg.model.n_ctx)
        sae_dir = bundle.save_sae(sae, out, site)
        sae = bundle.load_sae(sae_dir)  # measure what ships
        held = sae_stats(sae, heldout_acts[site])
        lab_metrics, all_stats[site] = label_and_density(model, sae, sae_dir, label_acts[site], rows[label_idx],
                                                         kinds[label_idx])
        metrics["saes"][site] = {
            "d_sae": sae.cfg.d_sae, "k": sae.cfg.k, "fve": held["fve"], "mean_l0": held["mean_l0"], **lab_metrics,
            **splice_increase(model, heldout_rows, site, sae),
        }
        log(f"{site}: {metrics['saes'][site]} ({time.time() - t_start:.0f}s)")
        del acts[site]
    metrics["concept_latents"] = find_concept_latents(all_stats)

    # 5. card
    metrics["build"] = {"seed": cfg.seed, "tiny": cfg.tiny, "n_docs": cfg.n_docs, "n_train_rows": int(rows.shape[0]),
                        "threads": torch.get_num_threads(), "torch": torch.__version__,
                        "build_seconds": time.time() - t_start, "config": asdict(cfg),
                        "model_reused_from": str(reuse_model) if reuse_model is not None else None}
    write_metrics(metrics, out)
    write_card(metrics, out)
    log(f"done in {time.time() - t_start:.0f}s -> {out}")
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, few steps (for tests)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse-model", type=Path, default=None,
                    help="skip model training: take the trained weights from an earlier build with the same seed/config")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = tiny_config() if args.tiny else BuildConfig()
    cfg.seed = args.seed
    if args.reuse_model is not None and args.reuse_model.resolve() == args.out.resolve():
        ap.error("--reuse-model must differ from --out (the output directory is wiped first)")
    metrics = build(args.out, cfg, log=lambda s: print(s, flush=True), reuse_model=args.reuse_model)
    failed = [k for k, v in metrics["quality_bars"].items() if not v["pass"]]
    if failed and not cfg.tiny:
        print(f"WARNING: quality bars failed: {failed}", flush=True)


if __name__ == "__main__":
    main()
