"""Plain-text output of the CLI: a trace without --json, and every error as one line (hints worded as flags)."""

from __future__ import annotations

from ..core.errors import OUT_OF_MEMORY, OUT_OF_MEMORY_HINT, TracerError, out_of_memory, unexpected, worded

# How the CLI words each setting a hint can name (core.errors.SETTINGS): as the flags that change it.
PHRASES = {
    "foil": "pass --foil TOKEN",
    "rule": "set the rule (--rule REGEX or --keywords a,b,c)",
    "labels": "label some by hand (--label I=undesired)",
    "samples": "sample more (--samples N)",
    "device": lambda example: f"use --device {example or 'cpu'}",
    "model": "pass --model NAME or --model DIR",
    "saes": lambda example: "pass --sae RELEASE[/ID] or --sae DIR" + (f" (e.g. --sae {example})" if example else ""),
    "means_text": "pass a text file (--means-text FILE)",
    "smaller_work": "try a shorter prompt, fewer SAEs (--sae), a smaller --top",
}


def describe_error(err: BaseException) -> tuple[str, int]:
    """(one line for stderr, exit code): 2 for the user's input, 1 for faults (out of memory, anything else)."""
    if isinstance(err, TracerError):
        return worded(str(err), err.hint, PHRASES), 2
    if out_of_memory(err):
        return worded(OUT_OF_MEMORY, OUT_OF_MEMORY_HINT, PHRASES), 1
    return f"{unexpected(err)} (set TRACER_TUI_DEBUG=1 for a traceback)", 1


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
