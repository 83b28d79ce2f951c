"""Recompute latent densities and labels for an existing bundle, without retraining anything.

    python -m tracer_tui.demo.relabel --bundle tracer_tui/demo/bundle

Regenerates the build's corpus (same seed and sizes, from metrics.json), takes the same labelling rows the
build took, and reruns the build's labelling step on the shipped model and SAE weights: each
``saes/<site>/sparsity.safetensors`` (log10 density) and ``labels.json`` are rewritten, and metrics.json /
card.md are updated (dead/live/dense counts, concept latents). Weights, eval and every other number stay.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..engine import bundle as bundle_io
from .build import label_and_density, split_rows
from .card import write_card, write_metrics
from .corpus import generate_corpus
from .labels import find_concept_latents
from .tokenizer import EOT
from .train_model import pack_rows
from .train_saes import cache_activations


def relabel(bundle: Path, log=print) -> dict:
    t0 = time.time()
    metrics = json.loads((bundle / "metrics.json").read_text())
    b, cfg = metrics["build"], metrics["build"]["config"]
    model = bundle_io.load_model_dir(bundle / bundle_io.MODEL_DIR)
    docs = generate_corpus(cfg["n_docs"], cfg["seed"])
    eot = model.tokenizer.convert_tokens_to_ids(EOT)
    rows, kinds = pack_rows(docs, model.tokenizer, cfg["model"]["n_ctx"], eot)
    if rows.shape[0] != b["n_train_rows"]:
        raise ValueError(f"corpus rebuilt to {rows.shape[0]} rows, the build had {b['n_train_rows']}: "
                         "not the same corpus/tokenizer; rebuild the bundle instead")
    _, label_idx = split_rows(rows.shape[0], cfg["seed"], cfg["sae_rows"], cfg["label_rows"])
    sites = list(bundle_io.sae_dirs(bundle))
    acts = cache_activations(model, rows[label_idx], sites)
    log(f"corpus and labelling activations ready ({time.time() - t0:.0f}s)")
    all_stats = {}
    for site, sae_dir in bundle_io.sae_dirs(bundle).items():
        sae = bundle_io.load_sae(sae_dir)
        site_metrics, all_stats[site] = label_and_density(model, sae, sae_dir, acts[site], rows[label_idx],
                                                          kinds[label_idx])
        metrics["saes"][site].update(site_metrics)
        log(f"{site}: {site_metrics} ({time.time() - t0:.0f}s)")
        del acts[site]
    metrics["concept_latents"] = find_concept_latents(all_stats)
    b["relabelled"] = {"by": "python -m tracer_tui.demo.relabel", "seconds": time.time() - t0,
                       "torch": torch.__version__}
    write_metrics(metrics, bundle)
    write_card(metrics, bundle)
    log(f"done in {time.time() - t0:.0f}s")
    return metrics


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    relabel(args.bundle, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
