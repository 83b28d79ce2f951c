"""How well do attributions predict real ablations? Spearman ρ and sign agreement on the demo's eval prompts.

For each held-out eval prompt (tracer_tui/demo/bundle/eval.jsonl; target = the eval target) and each metric and
upstream mode, this traces the prompt, really zero-ablates the top K rows of two levels one at a time
(``Trace.verify``) and compares estimated Δ (-attribution) with actual Δ:

* root: the target's children;
* level 1: the children of the root's top latent (its activation is the metric there).

It prints, per behaviour, metric and mode: the median ρ and median sign agreement (docs/attribution.md explains
both), the share of prompts with ρ ≥ 0.8, the median of sum|estimated| / sum|actual| over the K rows (1 when the
estimates have the right size; far below 1 when the metric saturates), and the mean number of error nodes among
the K rows. Prompts are the first --limit of each behaviour in file order: no selection by result.

    PYTHONPATH=. python scripts/faithfulness.py --limit 20
    PYTHONPATH=. python scripts/faithfulness.py --metrics logit --upstream nearest --detail 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tracer_tui.core.defaults import DEFAULT_METRIC, METRICS, UPSTREAM_MODES  # noqa: E402 (after the path fix)

RUNNER_UP = "logit-diff"  # logit-diff against the model's strongest other token (the runner-up)
BEHAVIOURS = ("factual", "ioi")


def eval_items(behaviours=BEHAVIOURS, limit: int | None = None) -> list[dict]:
    from tracer_tui.core.shipped import demo_bundle_dir
    from tracer_tui.engine.bundle import read_eval

    rows = read_eval(demo_bundle_dir())
    out = []
    for b in behaviours:
        picked = [r for r in rows if r["behaviour"] == b]
        out += picked[:limit] if limit else picked
    return out


def runner_up(tracer, item) -> str:
    """The model's most likely next token other than the eval target (the foil for logit-diff)."""
    t = tracer.trace(item["prompt"], target=item["target"], metric="logit", top_k=1)
    return next(p.token for p in t.top_predictions if p.id != t.target.id)


def measure_one(tracer, item, metric: str, upstream: str, k: int, foil: str | None = None) -> dict:
    """ρ and sign agreement of the root level and of the root's top latent's level, for one prompt."""
    trace = tracer.trace(item["prompt"], target=item["target"], metric=metric, top_k=k, upstream=upstream,
                         foil=foil if metric == "logit-diff" else None)
    out = {"prompt": item["prompt"], "behaviour": item["behaviour"], "metric": metric, "upstream": upstream,
           "prob": trace.target.prob, "levels": {}}
    root = trace.verify(k)
    out["levels"]["root"] = _level_record(trace, root)
    top = next((n for n in trace.nodes if not n.id.is_error and trace.has_upstream(n.id)), None)
    if top is not None:
        trace.expand(top.id, top_k=k)
        out["levels"]["level1"] = _level_record(trace, trace.verify(k, parent=str(top.id)))
    return out


def _level_record(trace, result) -> dict:
    est = sum(abs(p.estimated) for p in result.pairs)
    act = sum(abs(p.actual) for p in result.pairs)
    return {"parent": result.parent, "sites": trace.level_sites(result.parent), "spearman": result.spearman,
            "sign_agreement": result.sign_agreement, "size_ratio": est / act if act else None,
            "errors": sum(p.id.is_error for p in result.pairs),
            "pairs": [{"id": str(p.id), "estimated": p.estimated, "actual": p.actual} for p in result.pairs]}


def summarise(records: list[dict]) -> list[dict]:
    """Medians per (behaviour, metric, upstream, level)."""
    groups: dict[tuple, list] = {}
    for r in records:
        for level, rec in r["levels"].items():
            groups.setdefault((r["behaviour"], r["metric"], r["upstream"], level), []).append(rec)
    rows = []
    for (behaviour, metric, upstream, level), recs in sorted(groups.items()):
        rhos = [x["spearman"] for x in recs if x["spearman"] is not None]
        signs = [x["sign_agreement"] for x in recs if x["sign_agreement"] is not None]
        sizes = [x["size_ratio"] for x in recs if x["size_ratio"] is not None]
        rows.append({"behaviour": behaviour, "metric": metric, "upstream": upstream, "level": level,
                     "n": len(recs), "median_rho": statistics.median(rhos) if rhos else None,
                     "median_sign": statistics.median(signs) if signs else None,
                     "share_rho_ge_0.8": sum(x >= 0.8 for x in rhos) / len(rhos) if rhos else None,
                     "median_size_ratio": statistics.median(sizes) if sizes else None,
                     "error_rows": statistics.mean(x["errors"] for x in recs)})
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'behaviour':<9} {'metric':<11} {'upstream':<8} {'level':<6} {'n':>4} {'med ρ':>7} {'med sign':>8} " \
           f"{'ρ≥0.8':>6} {'|est|/|act|':>11} {'err rows':>8}"
    lines = [head, "-" * len(head)]

    def fmt(x, spec):
        return "n/a" if x is None else format(x, spec)

    for r in rows:
        lines.append(f"{r['behaviour']:<9} {r['metric']:<11} {r['upstream']:<8} {r['level']:<6} {r['n']:>4} "
                     f"{fmt(r['median_rho'], '.3f'):>7} {fmt(r['median_sign'], '.0%'):>8} "
                     f"{fmt(r['share_rho_ge_0.8'], '.0%'):>6} {fmt(r['median_size_ratio'], '.2f'):>11} "
                     f"{r['error_rows']:>8.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=20, metavar="N", help="prompts per behaviour (default 20; 0: all)")
    p.add_argument("--behaviours", default=",".join(BEHAVIOURS))
    p.add_argument("--metrics", default=",".join(METRICS), help=f"comma-separated, from {', '.join(METRICS)} "
                   "(logit-diff is against the runner-up token)")
    p.add_argument("--upstream", default=",".join(UPSTREAM_MODES), help="comma-separated upstream modes")
    p.add_argument("--k", type=int, default=10, help="rows verified per level (default 10)")
    p.add_argument("--detail", type=int, default=0, metavar="N",
                   help="also print the N worst levels (lowest ρ) with their rows")
    p.add_argument("--json", metavar="FILE", help="write every per-prompt record to FILE")
    args = p.parse_args(argv)

    import torch

    from tracer_tui.engine import Tracer

    torch.set_num_threads(1)
    metrics = [m for m in args.metrics.split(",") if m]
    modes = [m for m in args.upstream.split(",") if m]
    items = eval_items(tuple(args.behaviours.split(",")), args.limit or None)
    tracer = Tracer.load()
    t0 = time.time()
    records = []
    for item in items:
        foil = runner_up(tracer, item) if "logit-diff" in metrics else None
        for metric in metrics:
            for mode in modes:
                records.append(measure_one(tracer, item, metric, mode, args.k, foil))
    print(f"{len(items)} prompts, k={args.k}, default metric {DEFAULT_METRIC}, {time.time() - t0:.0f}s")
    print(format_table(summarise(records)))
    if args.detail:
        levels = [(rec["spearman"] if rec["spearman"] is not None else -2, r, name, rec)
                  for r in records for name, rec in r["levels"].items()]
        for rho, r, name, rec in sorted(levels, key=lambda x: x[0])[: args.detail]:
            print(f"\n{r['behaviour']} {r['metric']} {r['upstream']} {name} ρ={rho:.3f} p={r['prob']:.3f} "
                  f"{r['prompt']!r} parent {rec['parent']} sites {rec['sites']}")
            for pair in rec["pairs"]:
                print(f"  {pair['id']:<36} est {pair['estimated']:+.4f}  actual {pair['actual']:+.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
