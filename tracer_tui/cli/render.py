"""Plain-text rendering of a trace for the CLI without --json."""

from __future__ import annotations


SATURATED = 0.98  # above this p(target), d logprob is squashed by (1 - p)


def render_trace(data: dict) -> str:
    t = data["target"]
    lines = [f"target {t['token']!r} (id {t['id']}) at position {t['position']}: "
             f"{t['metric']} = {t['value']:.4f}, p = {t['prob']:.4f}",
             "top predictions: " + ", ".join(f"{p['token']!r} {p['prob']:.3f}" for p in data["top_predictions"][:5]),
             "", f"{'attribution':>12}  {'activation':>10}  node"]
    if t["metric"] == "logprob" and t["prob"] > SATURATED:
        lines[2:2] = [f"note: p(target) = {t['prob']:.3f}: log-prob is saturated, so first-order attributions "
                      "understate real effects; try --metric logit or --verify K"]
    depth = {"target": 0}
    for n in data["nodes"]:
        d = depth.get(n["parent"], 0) + 1
        depth[n["id"]] = d
        label = f"  {n['label']}" if n.get("label") else ""
        lines.append(f"{n['attribution']:>+12.4f}  {n['activation']:>10.3f}  {'  ' * (d - 1)}{n['id']} "
                     f"{n['token']!r}{label}")
    if "ablation" in data:
        a = data["ablation"]
        lines += ["", f"ablation of {', '.join(a['nodes'])}: value {a['value']:.4f}  actual Δ {a['delta']:+.4f}  "
                      f"estimated Δ {a['estimated_delta']:+.4f}"]
    if "verify" in data:
        v = data["verify"]
        rho = "n/a" if v["spearman"] is None else f"{v['spearman']:.3f}"
        lines += ["", f"verify top {v['k']}: Spearman {rho}"]
        lines += [f"  {p['id']}: estimated {p['estimated']:+.4f}  actual {p['actual']:+.4f}" for p in v["pairs"]]
    return "\n".join(lines)
