"""Property tests (hypothesis) on the tiny seeded model: ablations undo exactly and commute, node ids and
sessions round-trip, and malformed ids or session files fail only with the documented error types."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer_tui.core.errors import TracerError
from tracer_tui.core.nodes import Intervention, NodeId
from tracer_tui.core.session import Session, SessionError, load_session, save_session

PROMPT = "When Mary and John went to the park, John gave the ball to"
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def traced(tracer):
    return tracer.trace(PROMPT, top_k=40)


def _ablations(traced):
    """Draw {node id: scale} over the trace's root nodes (latents and error nodes), 1 to 6 of them."""
    ids = [str(n.id) for n in traced.nodes]
    scales = st.sampled_from([0.0, 0.5, 2.0, -1.0]) | st.floats(-3, 3, allow_nan=False, width=32)
    return st.dictionaries(st.sampled_from(ids), scales, min_size=1, max_size=6)


# ---- ablation ------------------------------------------------------------------------------------------
def test_no_ablation_is_the_clean_value(traced):
    r = traced.ablate([])
    assert r.value == traced.clean_value and r.delta == 0.0 and r.estimated_delta == 0.0


@given(data=st.data())
@SETTINGS
def test_ablating_then_clearing_restores_the_exact_clean_value(traced, data):
    ablations = data.draw(_ablations(traced))
    first = traced.ablate(ablations)
    assert traced.ablate([]).value == traced.clean_value  # the ablation left nothing behind
    again = traced.ablate(ablations)
    assert (again.value, again.prob, again.delta) == (first.value, first.prob, first.delta)


@given(data=st.data())
@SETTINGS
def test_ablation_order_does_not_matter(traced, data):
    ablations = data.draw(_ablations(traced))
    order = data.draw(st.permutations(list(ablations)))
    a = traced.ablate(ablations)
    b = traced.ablate({k: ablations[k] for k in order})
    c = traced.ablate([Intervention(NodeId.parse(k), ablations[k]) for k in reversed(order)])
    for other in (b, c):
        assert (other.value, other.prob, other.delta, other.estimated_delta) == \
               (a.value, a.prob, a.delta, a.estimated_delta)


def test_retracing_gives_identical_numbers(tracer, traced):
    again = tracer.trace(PROMPT, top_k=40)
    assert again.clean_value == traced.clean_value
    assert [(str(n.id), n.attribution) for n in again.nodes] == [(str(n.id), n.attribution) for n in traced.nodes]


# ---- node ids --------------------------------------------------------------------------------------------
sites = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.]{0,30}\Z")
node_ids = st.builds(NodeId, sites, st.none() | st.integers(0, 10**7), st.integers(0, 10**6))


@given(node_ids)
@settings(max_examples=200, deadline=None)
def test_node_ids_round_trip(nid):
    assert NodeId.parse(str(nid)) == nid
    assert NodeId.parse(f"  {nid}\n") == nid  # surrounding whitespace is forgiven


MALFORMED = st.one_of(
    node_ids.map(lambda n: str(n).replace(":", "", 1)),  # no colon
    node_ids.map(lambda n: str(n).replace("@", "#")),  # no @
    node_ids.map(lambda n: f"{n.site}:{n.latent}@-{n.position}"),  # negative position
    node_ids.map(lambda n: f"{n.site}:-1@{n.position}"),  # negative latent
    node_ids.map(lambda n: f"{n.site}:{n.latent}.5@{n.position}"),  # fractional latent
    node_ids.map(lambda n: f"{n}@{n.position}"),  # trailing junk
    node_ids.map(lambda n: f"{n.position}{n}"),  # site starting with a digit
    node_ids.map(lambda n: f":{n.latent}@{n.position}"),  # empty site
    st.text(string.ascii_letters + string.digits + " _.:@-", max_size=12).filter(lambda s: "@" not in s),
)


@given(MALFORMED)
@settings(max_examples=200, deadline=None)
def test_malformed_node_ids_raise_tracer_error(text):
    with pytest.raises(TracerError, match="malformed node id"):
        NodeId.parse(text)


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_text_parses_or_raises_tracer_error(text):
    try:
        nid = NodeId.parse(text)
    except TracerError as err:
        assert "\n" not in str(err)  # one line for the status bar
    else:
        assert NodeId.parse(str(nid)) == nid


# ---- sessions --------------------------------------------------------------------------------------------
texts = st.text(max_size=40)  # any code points, control characters and lone surrogates included
scales = st.floats(allow_nan=False, allow_infinity=False)
sessions = st.builds(
    Session, model=texts, saes=st.lists(texts, max_size=3), prompt=texts,
    target=st.none() | st.fixed_dictionaries({"token": texts, "id": st.integers(0, 10**6),
                                              "position": st.integers(0, 10**4)}),
    metric=st.sampled_from(["logprob", "logit", "logit-diff"]), foil=st.none() | texts,
    expanded=st.lists(st.fixed_dictionaries({"node": node_ids.map(str) | st.just("target"),
                                             "offset": st.integers(0, 10**4)}), max_size=5),
    ablations=st.dictionaries(node_ids.map(str), scales, max_size=5),
    graph=st.none() | st.just({"directed": True, "multigraph": False, "graph": {}, "nodes": [], "edges": []}),
)


@given(sessions)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_sessions_round_trip_through_a_file(tmp_path, session):
    path = save_session(session, tmp_path / "s.json")
    assert load_session(path).to_json() == session.to_json()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)
FIELDS = ["model", "saes", "prompt", "target", "metric", "contrast", "expanded", "ablations", "graph", "saved"]


@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=len(FIELDS)))
@settings(max_examples=200, deadline=None)
def test_any_session_json_loads_or_raises_session_error(fields):
    data = {"format": "tracer-tui-session", "version": 1, **fields}
    try:
        Session.from_json(json.loads(json.dumps(data)))
    except SessionError as err:
        assert "\n" not in str(err)
