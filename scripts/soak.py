"""Soak test: many consecutive traces, expansions and ablations in one app process; memory at start and end.

Each round traces a prompt from the prompt box (Enter), expands the first latent (l), ablates it (a) and clears
the ablations (c), all through the real app and its workers on the tiny seeded model. Afterwards it counts what
is still alive: Trace objects (each holds a forward pass's autograd graph), workers and threads.

    python scripts/soak.py                 # 200 rounds
    python scripts/soak.py --rounds 10 --json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import threading
import time

from _common import rss_mb, tiny_app, tiny_tracer, use_test_helpers

PROMPTS = ["When Mary and John went to the park, John gave the ball to", "The Eiffel Tower is in the city of",
           "The Colosseum is in the city of", "User: How do I stay healthy?\nAssistant:", "When Mary and John"]


async def soak(rounds: int = 200, warmup: int = 10) -> dict:
    use_test_helpers()
    from pilot import node_rows, settle, trace_prompt

    from tracer_tui.engine.trace import Trace

    tracer = tiny_tracer()
    app = tiny_app(tracer)
    out: dict = {"rounds": rounds, "rss_start_mb": rss_mb()}
    started = time.perf_counter()
    failures = []
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        for i in range(rounds):
            if i == warmup:
                gc.collect()
                out["rss_after_warmup_mb"] = rss_mb()
            await trace_prompt(app, pilot, PROMPTS[i % len(PROMPTS)])
            if not app.status.last.startswith("traced "):
                failures.append(app.status.last)
                continue
            latent = next((r for r in node_rows(app) if ":error@" not in r[2]), None)
            if latent is not None:
                app.tree.cursor_line = next(line for line in range(app.tree.last_line + 1)
                                            if app.tree.get_node_at_line(line).data.key == latent[2])
                await pilot.press("l")
                await settle(app, pilot)
                await pilot.press("a")
                await settle(app, pilot)
                if app.ex.ablation is None:
                    failures.append(f"round {i}: no ablation result ({app.status.last})")
                await pilot.press("c")
                await settle(app, pilot)
        gc.collect()
        out["live_traces"] = sum(isinstance(o, Trace) and o.tracer is tracer for o in gc.get_objects())
        out["workers_left"] = len(list(app.workers))
        out["threads"] = threading.active_count()
    gc.collect()
    out.update(rss_end_mb=rss_mb(), seconds=time.perf_counter() - started, failures=failures[:5],
               n_failures=len(failures))
    out.setdefault("rss_after_warmup_mb", out["rss_end_mb"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=200, help="trace + expand + ablate + clear rounds (default 200)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(soak(args.rounds))
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['rounds']} rounds (trace, expand, ablate, clear) in {r['seconds']:.0f} s, {r['n_failures']} "
              f"failures; RSS start {r['rss_start_mb']:.0f} MB, after {min(10, r['rounds'])} rounds "
              f"{r['rss_after_warmup_mb']:.0f} MB, end {r['rss_end_mb']:.0f} MB; live Trace objects "
              f"{r['live_traces']}, workers left {r['workers_left']}, threads {r['threads']}")
    return 1 if r["n_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
