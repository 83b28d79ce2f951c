"""Expansion of many nodes runs in memory-sized chunks (``Trace.expand``, ``core.defaults.EXPAND_MEMORY_BYTES``):
the same numbers as expanding each node alone, progress after each chunk, a cancel honoured between chunks."""

from __future__ import annotations

import math

import pytest

from tracer_tui.core.errors import Cancelled
from tracer_tui.demo import bundle_dir
from tracer_tui.engine import trace as trace_module

pytestmark = pytest.mark.skipif(not (bundle_dir() / "model" / "config.json").is_file(), reason="no demo bundle")

PROMPT = "User: What is the capital of France?\nAssistant: The capital of France is"


def explored_latents(tracer, n: int, upstream: str) -> list[str]:
    """``n`` expandable latents from several sites, found the way a user finds them: the root's rows, their
    children, and theirs."""
    trace = tracer.trace(PROMPT, top_k=40, upstream=upstream)
    found = [str(x.id) for x in trace.nodes if trace.has_upstream(x.id)]
    frontier = found[:8]
    while len(found) < n and frontier:
        kids = trace.expand(frontier, top_k=10)
        frontier = [str(c.id) for cs in kids.values() for c in cs if trace.has_upstream(c.id) and str(c.id) not in found]
        found += list(dict.fromkeys(frontier))
    return found[:n]


def small_chunks(monkeypatch, trace, nodes_per_chunk: int) -> dict[int, int]:
    """Shrink the memory budget so the largest chunk of any site holds about ``nodes_per_chunk`` nodes."""
    sites = range(len(trace.tracer.saes))
    per_node = max(trace_module.EXPAND_MEMORY_BYTES // trace.chunk_size(s) for s in sites)
    monkeypatch.setattr(trace_module, "EXPAND_MEMORY_BYTES", per_node * nodes_per_chunk)
    return {s: trace.chunk_size(s) for s in sites}


def chunks_of(trace, latents: list[str], sizes: dict[int, int]) -> int:
    by_site: dict[int, int] = {}
    for n in latents:
        s = trace.tracer.sites.index(trace.check_node(n).site)
        by_site[s] = by_site.get(s, 0) + 1
    return sum(math.ceil(count / sizes[s]) for s, count in by_site.items())


@pytest.mark.parametrize("upstream", ["nearest", "all"])
def test_chunked_expansion_equals_expanding_each_node_alone(demo, monkeypatch, upstream):
    latents = explored_latents(demo, 60, upstream)
    assert len({n.split(":")[0] for n in latents}) >= 2  # several sites, so several chunk groups

    trace = demo.trace(PROMPT, upstream=upstream)
    sizes = small_chunks(monkeypatch, trace, 7)
    calls = []
    chunked = trace.expand(latents, top_k=12, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) == chunks_of(trace, latents, sizes) > 3  # really in chunks

    alone = demo.trace(PROMPT, upstream=upstream)
    for node in latents:
        single = alone.expand([node], top_k=12)[node]
        got = chunked[node]
        assert [str(c.id) for c in got] == [str(c.id) for c in single], node
        assert [c.attribution for c in got] == pytest.approx([c.attribution for c in single], rel=1e-5, abs=1e-7)
        assert trace.totals[node] == alone.totals[node]
        assert trace.abs_totals[node] == pytest.approx(alone.abs_totals[node], rel=1e-5)
    assert list(chunked) == latents  # in the order asked, whatever the chunks


def test_progress_counts_nodes_after_each_chunk(demo, monkeypatch):
    latents = explored_latents(demo, 40, "nearest")
    trace = demo.trace(PROMPT)
    sizes = small_chunks(monkeypatch, trace, 6)
    calls = []
    trace.expand(latents + latents[:5], progress=lambda done, total: calls.append((done, total)))  # repeats: once
    assert len(calls) == chunks_of(trace, latents, sizes)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == len(done) and done[-1] == len(latents)
    assert {t for _, t in calls} == {len(latents)}


def test_a_cancel_between_chunks_stops_the_expansion(demo, monkeypatch):
    latents = explored_latents(demo, 40, "nearest")
    trace = demo.trace(PROMPT)
    small_chunks(monkeypatch, trace, 5)
    calls = []
    with pytest.raises(Cancelled):
        trace.expand(latents, should_cancel=lambda: bool(calls), progress=lambda d, t: calls.append(d))
    assert len(calls) == 1  # the first chunk ran, then the cancel was seen before the second
    expanded = [n for n in latents if n in trace.children]
    assert len(expanded) == calls[0] < len(latents)
    # The trace stays usable: expanding again finishes the job.
    assert set(trace.expand(latents)) == set(latents)


def test_chunk_size_follows_the_memory_budget(demo, monkeypatch):
    trace = demo.trace(PROMPT)
    default = [trace.chunk_size(s) for s in range(len(demo.saes))]
    assert all(n >= 1 for n in default)
    monkeypatch.setattr(trace_module, "EXPAND_MEMORY_BYTES", trace_module.EXPAND_MEMORY_BYTES // 4)
    quarter = [trace.chunk_size(s) for s in range(len(demo.saes))]
    assert all(abs(q - d / 4) <= 1 for q, d in zip(quarter, default))
    monkeypatch.setattr(trace_module, "EXPAND_MEMORY_BYTES", 1)
    assert [trace.chunk_size(s) for s in range(len(demo.saes))] == [1] * len(demo.saes)  # never 0
    # A node with more upstream sites (the "all" levels) costs more, so fewer of it fit.
    pooled = demo.trace(PROMPT, upstream="all")
    monkeypatch.undo()
    assert pooled.chunk_size(3) < trace.chunk_size(3)
