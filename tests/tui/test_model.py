"""The TUI's state as plain, immutable data (no Textual): snapshots of a live trace and how pages join them."""

from __future__ import annotations

import dataclasses

import pytest

from tracer_tui.core.defaults import DEFAULT_METRIC
from tracer_tui.tui import model

PROMPT = "When Mary and John went to the park, John gave the ball to"


def test_snapshot_is_frozen_and_matches_the_trace(tiny_tracer):
    trace = tiny_tracer.trace(PROMPT)
    snap = model.snapshot(trace)
    assert [str(n.id) for n in snap.nodes] == [str(n.id) for n in trace.nodes]
    assert snap.target == trace.target and snap.tokens == tuple(trace.tokens)
    assert [p.id for p in snap.predictions] == [p.id for p in trace.top_predictions]
    assert snap.upstream == {str(n.id) for n in trace.nodes if trace.has_upstream(n.id)}
    with pytest.raises(TypeError):
        snap.children["x"] = ()  # read-only mapping
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.nodes[0].attribution = 0.0
    # The engine keeps changing its own lists; the snapshot does not move.
    latent = next(n for n in trace.nodes if trace.has_upstream(n.id))
    trace.more(str(latent.id))
    assert str(latent.id) in trace.children and str(latent.id) not in snap.children


def test_pages_join_a_snapshot_as_the_engine_joins_them(tiny_tracer):
    trace = tiny_tracer.trace(PROMPT, top_k=3)
    snap = model.snapshot(trace)
    latent = str(next(n for n in trace.nodes if trace.has_upstream(n.id)).id)
    for parent, offset in [("target", 3), (latent, 0), (latent, 10)]:
        nodes = trace.more(parent, offset=offset)
        snap = snap.with_page(model.page(trace, parent, offset, nodes))
    want = model.snapshot(trace)
    assert {k: [str(n.id) for n in v] for k, v in snap.children.items()} == \
        {k: [str(n.id) for n in v] for k, v in want.children.items()}
    assert dict(snap.totals) == dict(want.totals) and dict(snap.abs_totals) == dict(want.abs_totals)
    assert snap.upstream == want.upstream


def test_exploration_changes_only_by_replacement():
    ex = model.Exploration()
    changed = ex.with_(ablations={"a": 0.0}, request=ex.request.with_(metric="logit", foil=" John"))
    assert ex.ablations == {} and ex.request.metric == DEFAULT_METRIC  # the old state is untouched
    assert changed.ablations == {"a": 0.0} and changed.request.foil == " John"
    with pytest.raises(TypeError):
        changed.ablations["b"] = 1.0
    assert "vs ' John'" in changed.request.with_(metric="logit-diff").describe()
