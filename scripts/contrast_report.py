"""Contrast mode on the demo model's persona prompts: the numbers behind the README's contrast table.

For each persona sample prompt: sample completions, label them with the prompt's rule, rank latents by
Δ-attribution and by activation difference, then steer the top latent of each ranking with +α and -α (the same
multiple of each latent's typical activation) beside a band of random active latents from the same SAE.

    python scripts/contrast_report.py                  # 256 samples per prompt, 64 per steering condition
    python scripts/contrast_report.py --samples 32 --steer-samples 32 --json
"""

from __future__ import annotations

import argparse
import json
import time


def report(samples: int, steer_samples: int, random: int, multiplier: float, mode: str, seed: int) -> list[dict]:
    from tracer_tui.core.prompts import load_sample_prompts
    from tracer_tui.engine.tracer import Tracer
    from tracer_tui.core.shipped import shipped_dir

    tracer = Tracer.load()
    rows = []
    for p in load_sample_prompts(shipped_dir("sample_prompts")):
        if p.model != "demo" or p.behaviour != "persona":
            continue
        t0 = time.perf_counter()
        c = tracer.contrast(p.prompt, samples=samples, rule=p.undesired_rule, mode=mode, seed=seed)
        row = {"prompt": p.name, "counts": c.counts, "overlap_top20": c.overlap(20)}
        for kind, top in (("delta_attribution", c.top(1)[0]), ("activation_difference", c.baseline(1)[0])):
            steer = {}
            for sign in (1, -1):
                r = tracer.steer(p.prompt, top.id, multiplier=sign * multiplier, samples=steer_samples,
                                 rule=p.undesired_rule, random=random, seed=seed)
                steer["+" if sign > 0 else "-"] = {"rate": r.rate, "band": [r.random_band["min"], r.random_band["max"]]}
            row[kind] = {**top.to_json(), "unsteered_rate": r.unsteered_rate, "steer": steer}
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def pct(x) -> str:
    return f"{100 * x:.0f}%"


def markdown(rows: list[dict], multiplier: float) -> str:
    out = [f"| prompt | ranking | top latent | label | unsteered | +{multiplier:g}× (random band) | "
           f"−{multiplier:g}× (random band) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        for kind in ("delta_attribution", "activation_difference"):
            x = row[kind]
            cells = [f"{pct(x['steer'][s]['rate'])} ({pct(x['steer'][s]['band'][0])}–{pct(x['steer'][s]['band'][1])})"
                     if x["steer"][s]["band"][0] is not None else pct(x["steer"][s]["rate"]) for s in "+-"]
            out.append(f"| {row['prompt']} | {kind.replace('_', ' ')} | `{x['id']}` | {x['label']} | "
                       f"{pct(x['unsteered_rate'])} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--steer-samples", type=int, default=64)
    ap.add_argument("--random", type=int, default=5)
    ap.add_argument("--multiplier", type=float, default=4.0)
    ap.add_argument("--mode", choices=("zero", "mean"), default="zero")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = report(a.samples, a.steer_samples, a.random, a.multiplier, a.mode, a.seed)
    print(json.dumps(rows, indent=1) if a.json else markdown(rows, a.multiplier))


if __name__ == "__main__":
    main()
