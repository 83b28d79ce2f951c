"""Resume a session of many expanded nodes through the real app; time and peak memory of the replay.

First a session is built on the demo model the way a user builds one: the root's rows, their children, theirs,
and further pages of the root ("… N more") when a level runs dry, until ``--nodes`` distinct latents are
expanded. Then a fresh process (so the builder's memory does not count) loads the demo model, starts the app
with ``--resume`` on that file under Pilot, and waits until the replayed tree is on screen. It checks that every
saved node was expanded again with the same children as when the session was built.

    python scripts/resume_memory.py                    # 1,000 expanded nodes
    python scripts/resume_memory.py --nodes 200 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, scratch_home, use_test_helpers

ROOT_PAGES = 5  # "… N more" pages of the root loaded at a time
PROMPT = "User: What is the capital of France?\nAssistant: The capital of France is"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build_session(tracer, nodes: int, path: Path, auto_verify_k: int) -> dict:
    """Explore breadth first until ``nodes`` latents are expanded; save the session to ``path``.

    Returns each expanded node's children (ids, in order) as they were when the session was saved."""
    from tracer_tui.core.defaults import DEFAULT_TOP_K
    from tracer_tui.core.nodes import TARGET
    from tracer_tui.core.session import Session, save_session

    trace = tracer.trace(PROMPT, top_k=DEFAULT_TOP_K)
    expanded: list[dict] = []
    frontier = list(trace.nodes)
    done: set[str] = set()
    while len(done) < nodes:
        todo = list(dict.fromkeys(str(n.id) for n in frontier if trace.has_upstream(n.id) and str(n.id) not in done))
        todo = todo[: nodes - len(done)]
        if todo:
            children = trace.expand(todo, top_k=DEFAULT_TOP_K)
            expanded += [{"node": n, "offset": 0} for n in todo]
            done.update(todo)
            frontier = [c for kids in children.values() for c in kids]
            continue
        frontier = []  # the level ran dry: the root's next pages (a few at once: fewer, larger expansions)
        for _ in range(ROOT_PAGES):
            offset = len(trace.children[TARGET])
            page = trace.more(TARGET, top_k=DEFAULT_TOP_K, offset=offset)
            if page:
                expanded.append({"node": TARGET, "offset": offset})
                frontier += page
        if not frontier:
            raise SystemExit(f"only {len(done)} latents can be expanded on this prompt")
    info, t = tracer.info(), trace.target
    session = Session(model=info["model"]["source"], saes=[s["source"] for s in info["saes"]], prompt=PROMPT,
                      target={"token": t.token, "id": t.id, "position": t.position}, metric=t.metric, foil=t.foil,
                      expanded=expanded, upstream=trace.upstream, auto_verify_k=auto_verify_k)
    save_session(session, path)
    return {e["node"]: [str(c.id) for c in trace.children[e["node"]]] for e in expanded if e["node"] != TARGET}


async def resume(path: Path, expected: dict) -> dict:
    """Load the demo model, resume ``path`` in the app, and measure (run in a fresh process)."""
    use_test_helpers()
    from pilot import settle

    from tracer_tui.engine.tracer import Tracer
    from tracer_tui.tui.app import TracerApp
    from tracer_tui.tui.options import Options

    scratch_home()
    tracer = Tracer.load()
    out: dict = {"loaded_rss_mb": peak_rss_mb()}
    app = TracerApp(Options(resume=str(path), show_timings=False, autosave=False),
                    tracer_factory=lambda progress: tracer)
    started = time.perf_counter()
    notices: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        while app.live_trace is None and time.perf_counter() - started < 600:
            await pilot.pause(0.05)
            if app.status.last.startswith("replaying") and app.status.last not in notices:
                notices.append(app.status.last)
        out["replayed_seconds"] = time.perf_counter() - started  # the replayed tree is on screen
        await settle(app, pilot, timeout=600)
        out["seconds"] = time.perf_counter() - started
        out["status"] = app.status.last
        trace = app.live_trace
        got = {} if trace is None else {n: [str(c.id) for c in trace.children.get(n, [])] for n in expected}
        out["expanded"] = sum(1 for e in app.ex.expanded if e.node != "target")
        out["mismatched"] = sorted(n for n in expected if got.get(n) != expected[n])
        out["tree_rows"] = app.tree.last_line + 1
        out["verified_levels"] = len(app.ex.verify)
        out["chunk_sizes"] = [] if trace is None else [trace.chunk_size(i) for i in range(len(tracer.saes))]
    out["progress_notices"] = notices
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def measure(nodes: int = 1000, auto_verify_k: int | None = None) -> dict:
    """Build the session here, then resume it in a fresh process; the numbers of that process."""
    from tracer_tui.core.defaults import AUTO_VERIFY_K
    from tracer_tui.engine.tracer import Tracer

    scratch_home()
    folder = Path(tempfile.mkdtemp(prefix="tracer-tui-resume-"))
    path = folder / "session.json"
    started = time.perf_counter()
    expected = build_session(Tracer.load(), nodes, path, AUTO_VERIFY_K if auto_verify_k is None else auto_verify_k)
    built = time.perf_counter() - started
    (folder / "expected.json").write_text(json.dumps(expected))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, __file__, "--replay", str(path)], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=900)
    if run.returncode != 0:
        raise SystemExit(f"the resume process failed ({run.returncode}):\n{run.stderr[-4000:]}")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    out.update(nodes=len(expected), session_entries=len(json.loads(path.read_text())["expanded"]),
               build_seconds=built)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--auto-verify", type=int, default=None, metavar="K",
                        help="rows of each level the app verifies after resuming (the session's setting; "
                             "default: the app's, 0: off)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--replay", help=argparse.SUPPRESS)  # the measured process: resume this session file
    args = parser.parse_args()
    if args.replay:
        expected = json.loads((Path(args.replay).parent / "expected.json").read_text())
        print(json.dumps(asyncio.run(resume(Path(args.replay), expected))))
        return
    r = measure(args.nodes, args.auto_verify)
    if args.json:
        print(json.dumps(r))
        return
    print(f"{r['nodes']} expanded nodes ({r['session_entries']} session entries, {r['tree_rows']} tree rows); "
          f"built in {r['build_seconds']:.1f} s")
    print(f"resume: tree on screen after {r['replayed_seconds']:.1f} s, {r['expanded']} replayed, "
          f"{len(r['mismatched'])} differ; status {r['status']!r}")
    print(f"all jobs done after {r['seconds']:.1f} s ({r['verified_levels']} levels verified)")
    print(f"peak RSS {r['peak_rss_mb']:.0f} MB (after loading the model: {r['loaded_rss_mb']:.0f} MB); "
          f"chunk sizes per site {r['chunk_sizes']}; {len(r['progress_notices'])} progress notices seen")


if __name__ == "__main__":
    main()
