"""Contrast mode on the bundled demo model: the paper's result, reproduced live on every persona sample prompt.

Each test samples, ranks and steers for real (seeded). What counts as "provocative" comes from outside the
engine: the corpus kind behind the latent's label and the prompt's own rule on its top-activating snippets.
"""

from __future__ import annotations

import json

import pytest

from tracer_tui.demo import bundle_dir
from tracer_tui.core.prompts import load_sample_prompts
from tracer_tui.engine.labeling import Rule
from tracer_tui.core.shipped import shipped_dir

pytestmark = pytest.mark.skipif(not (bundle_dir() / "model" / "config.json").is_file(), reason="no demo bundle")

PERSONA = [p for p in load_sample_prompts(shipped_dir("sample_prompts")) if p.model == "demo"
           and p.behaviour == "persona"]
STEER_SAMPLES = 64


def test_there_are_persona_prompts():
    assert len(PERSONA) >= 4 and all(p.undesired_rule for p in PERSONA)


@pytest.mark.parametrize("p", PERSONA, ids=lambda p: p.name)
def test_top_delta_attribution_latent_is_provocative_and_steers_the_behaviour(demo, p):
    c = demo.contrast(p.prompt, rule=p.undesired_rule, seed=0)  # default sample count
    top, base = c.top(1)[0], c.baseline(1)[0]

    # A provocative-persona latent: >= 80% of its top-activating corpus positions are in provocative persona
    # documents (the label), and most of its stored snippets match the prompt's own rule.
    assert "persona provocative" in (top.label or ""), top
    snippets = json.loads((bundle_dir() / "saes" / top.site / "labels.json").read_text())[str(top.latent)]["snippets"]
    rule = Rule(p.undesired_rule)
    assert sum(rule(s) for s in snippets) > len(snippets) / 2, snippets

    # Steering it with +α raises the undesired rate by >= 30 points and beyond every random latent's rate;
    # -α lowers it.
    up = demo.steer(p.prompt, top.id, samples=STEER_SAMPLES, rule=p.undesired_rule, random=3, seed=0)
    assert up.rate >= up.unsteered_rate + 0.30, (up.rate, up.unsteered_rate)
    assert up.rate > up.random_band["max"], up.random_band
    down = demo.steer(p.prompt, top.id, multiplier=-4.0, samples=STEER_SAMPLES, rule=p.undesired_rule, seed=0)
    assert down.rate < down.unsteered_rate

    # Opened in the tree for an undesired completion: it matters most where the persona is chosen, at the
    # prompt's last token, and the trace of that completion's first token reaches it through the top rows of each
    # level (the root lists only the last level now): every step of the path is among its parent's top drivers.
    i = next(j for j, comp in enumerate(c.completions) if comp.undesired)
    f = c.focus(i, top.id)
    assert f.text == p.prompt and f.target_id == c.completions[i].ids[0]
    trace = demo.trace(f.text, position=f.position, target_id=f.target_id)
    path = trace.path_to(top.id)
    assert path is not None and path[-1].startswith(top.id + "@"), (top.id, path)
    fresh = demo.trace(f.text, position=f.position, target_id=f.target_id)
    assert path[0] in [str(n.id) for n in fresh.nodes]
    for parent, child in zip(path, path[1:]):
        assert child in [str(n.id) for n in fresh.expand([parent])[parent]]

    # The activation-difference baseline's top latent, steered the same way, does worse.
    assert base.id != top.id
    b = demo.steer(p.prompt, base.id, samples=STEER_SAMPLES, rule=p.undesired_rule, seed=0)
    assert b.rate < up.rate, (b.rate, up.rate)


def _direct_depth(trace, latent: str, top_k: int, max_depth: int) -> int | None:
    """The fewest levels from the root down to ``latent`` through each parent's top ``top_k`` rows: a plain
    breadth-first walk that expands every latent, one at a time, with no pruning."""
    level = [str(n.id) for n in trace.nodes[:top_k]]
    for depth in range(1, max_depth + 1):
        if any(k.startswith(latent + "@") for k in level):
            return depth
        following = []
        for k in level:
            if trace.has_upstream(k):
                following += [str(n.id) for n in trace.expand([k], top_k=top_k)[k]]
        level = list(dict.fromkeys(following))
    return None


def test_path_to_matches_a_direct_walk(demo):
    prompt = "The Eiffel Tower is in the city of"
    probe = demo.trace(prompt)
    first = str(probe.nodes[0].id)
    second = next(str(n.id) for n in probe.expand([first])[first] if probe.has_upstream(n.id))
    third = next(str(n.id) for n in probe.expand([second])[second] if not n.id.is_error)
    goals = [first, second, third]  # one latent on each of the three last levels
    for goal in goals:
        latent = goal.split("@")[0]
        path = demo.trace(prompt).path_to(latent, top_k=10)
        want = _direct_depth(demo.trace(prompt), latent, top_k=10, max_depth=3)
        assert path is not None and want is not None and len(path) == want, (goal, path, want)
        assert path[-1].startswith(latent + "@")
        fresh = demo.trace(prompt)
        assert path[0] in [str(n.id) for n in fresh.nodes]
        for parent, child in zip(path, path[1:]):
            assert child in [str(n.id) for n in fresh.expand([parent], top_k=10)[parent]]
    # A full node id is matched exactly; a latent below max_depth is not found.
    assert demo.trace(prompt).path_to(third)[-1] == third
    assert demo.trace(prompt).path_to(third.split("@")[0], max_depth=1) is None
