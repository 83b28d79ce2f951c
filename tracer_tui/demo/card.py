"""metrics.json + card.md: what the demo model learned, and whether each quality bar holds."""

from __future__ import annotations

import json
from pathlib import Path

from ..core.defaults import DENSE_THRESHOLD

# name -> (metric getter, comparison, bar). The test suite re-measures these on the committed bundle.
BARS = {
    "factual_top1": (lambda m: m["eval"]["factual"]["top1"], ">=", 0.9),
    "ioi_top1": (lambda m: m["eval"]["ioi"]["top1"], ">=", 0.9),
    "persona_provocative_fraction": (lambda m: m["persona"]["provocative_fraction"], ">=", 0.2),
    "persona_calm_fraction": (lambda m: m["persona"]["calm_fraction"], ">=", 0.2),
    "sae_min_fve": (lambda m: min(s["fve"] for s in m["saes"].values()), ">=", 0.85),
    "sae_max_mean_l0": (lambda m: max(s["mean_l0"] for s in m["saes"].values()), "<=", 40),
    "sae_max_dead_fraction": (lambda m: max(s["dead_fraction"] for s in m["saes"].values()), "<=", 0.25),
    "sae_max_ce_increase_frac": (lambda m: max(s["ce_increase_frac"] for s in m["saes"].values()), "<=", 0.15),
    "concept_latents_named": (lambda m: len(m["concept_latents"]), ">=", 1),
}


def quality_bars(metrics: dict) -> dict:
    out = {}
    for name, (get, op, bar) in BARS.items():
        v = get(metrics)
        out[name] = {"value": v, "bar": f"{op} {bar}", "pass": bool(v >= bar if op == ">=" else v <= bar)}
    return out


def write_metrics(metrics: dict, out: Path) -> None:
    metrics["quality_bars"] = quality_bars(metrics)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")


def write_card(metrics: dict, out: Path) -> None:
    b = metrics["build"]
    mc = metrics["model"]["config"]
    lines = [
        "# tracer-demo: bundled demo model",
        "",
        f"A {mc['n_layers']}-layer TransformerLens HookedTransformer (d_model {mc['d_model']}, {mc['n_heads']} heads, "
        f"d_mlp {mc['d_mlp']}, n_ctx {mc['n_ctx']}, LN, gelu, vocab {mc['d_vocab']} byte-level BPE) trained on a "
        "synthetic templated corpus with planted behaviours: factual recall (landmark -> city -> country, capitals), "
        "IOI-style copying, two assistant personas (calm / provocative; neutral prompts ~30% provocative, heated or polite user tone shifts the odds; no marker token), and filler.",
        "One TopK SAE per `blocks.L.hook_resid_pre` site, saved in SAE-Lens format.",
        "",
        f"Built by `python -m tracer_tui.demo.build --out <dir>{' --tiny' if b['tiny'] else ''}` "
        f"(seed {b['seed']}, {b['build_seconds']:.0f} s on {b['threads']} CPU threads). Everything here is generated; do not edit by hand.",
        *(["Model weights were reused from an identical earlier build (`--reuse-model`); build time excludes model training."]
          if b.get("model_reused_from") else []),
        *([f"Densities and labels were recomputed later from the shipped weights and the same labelling rows by "
           f"`python -m tracer_tui.demo.relabel` ({b['relabelled']['seconds']:.0f} s); nothing was retrained."]
          if b.get("relabelled") else []),
        "",
        "## Training",
        "",
        f"- {b['n_docs']} documents, {b['n_train_rows']} packed rows; {metrics['model']['steps']} steps; "
        f"final training loss {metrics['model']['final_train_loss']:.4f}; held-out corpus CE {metrics['model']['heldout_ce']:.4f}.",
        "",
        "## Held-out eval (eval.jsonl, top-1 next token)",
        "",
        "| behaviour | top-1 | n |",
        "|---|---|---|",
    ]
    for beh, r in metrics["eval"].items():
        lines.append(f"| {beh} | {r['top1']:.3f} | {r['n']} |")
    p = metrics["persona"]
    lines += [
        "",
        f"Persona mix, sampling at T=1 on the held-out persona prompts ({p['n_samples']} completions, rule "
        f"`{p['rule']}`): provocative {p['provocative_fraction']:.3f}, calm {p['calm_fraction']:.3f}.",
        "",
        "## SAEs",
        "",
        "FVE and mean L0 on held-out corpus text; dead = never active on the labelling corpus; dense = active on "
        f"more than {DENSE_THRESHOLD:.0%} of the labelling tokens (labelled as dense, never as a concept); "
        "CE increase = relative rise of next-token CE when the SAE reconstruction replaces the site (splice).",
        "",
        "| site | d_sae | k | FVE | mean L0 | dead | dense | CE clean | CE spliced | CE increase |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for site, s in metrics["saes"].items():
        lines.append(f"| {site} | {s['d_sae']} | {s['k']} | {s['fve']:.3f} | {s['mean_l0']:.1f} | "
                     f"{s['dead_fraction']:.3f} | {s.get('n_dense', '?')} | {s['ce_clean']:.4f} | {s['ce_spliced']:.4f} | "
                     f"{s['ce_increase_frac']:.3f} |")
    lines += ["", "## Named concept latents", ""]
    if metrics["concept_latents"]:
        for c in metrics["concept_latents"]:
            lines.append(f"- **{c['site']}:{c['latent']}** - {c['concept']}: {c['why']}.")
    else:
        lines.append("- none found (tiny build)")
    lines += ["", "## Quality bars", "", "| bar | value | required | pass |", "|---|---|---|---|"]
    for name, q in metrics["quality_bars"].items():
        v = q["value"]
        lines.append(f"| {name} | {v:.3f} | {q['bar']} | {'yes' if q['pass'] else 'NO'} |" if isinstance(v, float)
                     else f"| {name} | {v} | {q['bar']} | {'yes' if q['pass'] else 'NO'} |")
    lines += ["", "`means.safetensors` holds each site's mean activation over the corpus (BOS position excluded), "
              "for mean-ablation.",
              "",
              "Each `saes/<site>/sparsity.safetensors` holds SAE-Lens's `sparsity` tensor: log10 of each latent's "
              "density, the share of the labelling tokens (all positions) it is active on.", ""]
    (out / "card.md").write_text("\n".join(lines))
