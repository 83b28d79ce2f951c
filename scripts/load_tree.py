"""Load test: a latent tree with ~10,000 expanded rows in the real app, and the key-to-repaint latency of cursor
moves over it.

The rows go in through the app's own path: engine pages (``Trace.more`` / one batched ``Trace.expand``) posted as
the same ``Expanded`` messages the expand worker posts, so ``on_expanded`` adds them with ``LatentTree.add_rows``.
Latency = from the key press to the next screen update the compositor hands to the terminal (rendered to the
escape codes a real terminal would get).

    python scripts/load_tree.py                 # 10,000 rows, 200 cursor moves
    python scripts/load_tree.py --rows 300 --moves 10 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time

from _common import LONG_PROMPT, percentile, rss_mb, tiny_app, tiny_tracer, use_test_helpers


async def build_and_measure(rows: int = 10_000, moves: int = 200, root_rows: int | None = None,
                            size=(120, 40)) -> dict:
    use_test_helpers()
    from pilot import settle, trace_prompt

    from tracer_tui.tui.messages import Expanded
    from tracer_tui.tui.model import page as make_page

    tracer = tiny_tracer()
    app = tiny_app(tracer)
    root_rows = root_rows or min(400, max(20, rows // 25))
    out: dict = {"rows_wanted": rows}
    async with app.run_test(size=size) as pilot:
        await trace_prompt(app, pilot, LONG_PROMPT)
        trace, gen = app.live_trace, app.trace_gen
        t0 = time.perf_counter()
        # Root level: the next pages after the 10 shown, as "… N more" would load them.
        loaded = len(trace.children["target"])
        page = trace.more("target", top_k=root_rows - loaded, offset=loaded)
        app.post_message(Expanded(gen, make_page(trace, "target", loaded, page), app.tree.root))
        await settle(app, pilot)
        # Second level: every latent past the first SAE site has upstream nodes; expand them in one batch.
        first_site = tracer.sites[0]
        parents = [n for n in trace.children["target"] if not n.id.is_error and n.id.site != first_site]
        per_parent = math.ceil((rows - root_rows) / max(1, len(parents)) * 1.1)
        children = trace.expand([str(n.id) for n in parents], top_k=per_parent)
        by_key = {child.data.key: child for child in app.tree.root.children if child.data is not None}
        for key, nodes in children.items():
            app.post_message(Expanded(gen, make_page(trace, key, 0, nodes), by_key[key]))
        await settle(app, pilot)
        out["build_s"] = time.perf_counter() - t0
        out["rows"] = app.tree.last_line + 1
        out["expanded_parents"] = len(children)

        paints: list[float] = []
        display = app._display

        def timed_display(screen, renderable):
            if renderable is not None:
                renderable.render_segments(app.console)  # what a real terminal would be sent
                paints.append(time.perf_counter())
            return display(screen, renderable)

        app._display = timed_display
        app.tree.focus()
        await pilot.pause()

        async def timed(key: str) -> float:
            """Seconds from the key press to the next screen update sent to the terminal."""
            before = len(paints)
            t = time.perf_counter()
            await pilot.press(key)
            while len(paints) == before and time.perf_counter() < t + 5:
                await asyncio.sleep(0.001)
            return (paints[before] if len(paints) > before else math.inf) - t

        latencies: list[float] = []
        starts = [0, out["rows"] // 2, max(0, out["rows"] - moves // 2 - 2)]
        for i in range(moves):
            if i % max(1, moves // len(starts)) == 0:  # jump: top, middle, bottom of the tree
                app.tree.cursor_line = starts[min(len(starts) - 1, i // max(1, moves // len(starts)))]
                await pilot.pause()
            latencies.append(await timed("j" if i % 4 != 3 else "k"))
        # Collapse and re-open an expanded latent (Enter): the tree's line list is rebuilt over every row.
        app.tree.cursor_line = by_key[next(iter(children))].line
        await pilot.pause()
        out["collapse_ms"] = await timed("enter") * 1000
        out["reopen_ms"] = await timed("enter") * 1000
        # What an ablation toggle, a verify or a theme change does: every label drawn again.
        before = len(paints)
        t = time.perf_counter()
        app.tree.refresh_rows()
        while len(paints) == before and time.perf_counter() < t + 5:
            await asyncio.sleep(0.001)
        out["refresh_rows_ms"] = ((paints[before] if len(paints) > before else math.inf) - t) * 1000
        app._display = display
        await settle(app, pilot)
    ms = [x * 1000 for x in latencies]
    out.update(moves=len(ms), median_ms=statistics.median(ms), p95_ms=percentile(ms, 0.95), max_ms=max(ms),
               rss_mb=rss_mb())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000, help="rows to build (default 10000)")
    p.add_argument("--moves", type=int, default=200, help="cursor moves to time (default 200)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = asyncio.run(build_and_measure(args.rows, args.moves))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['rows']} rows ({result['expanded_parents']} expanded latents) built in "
              f"{result['build_s']:.1f} s; {result['moves']} cursor moves, key-to-repaint median "
              f"{result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, max {result['max_ms']:.1f} ms; "
              f"collapse / re-open a latent {result['collapse_ms']:.0f} / {result['reopen_ms']:.0f} ms; "
              f"redraw of every label {result['refresh_rows_ms']:.1f} ms; RSS {result['rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
