"""The engine on the bundled demo model: it finds the planted structure, and its top latents matter."""

from __future__ import annotations

import json
import random

import pytest

from tracer_tui.cli import main
from tracer_tui.demo import bundle_dir

pytestmark = pytest.mark.skipif(not (bundle_dir() / "model" / "config.json").is_file(), reason="no demo bundle")


def test_default_trace_is_the_demo_and_finds_the_landmark(capsys):
    # The root's level is the last site (all at the final position); the landmark shows one level down.
    assert main(["trace", "The Eiffel Tower is in the city of", "--json", "--top", "10", "--depth", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["top_predictions"][0]["token"] == " Paris"
    assert data["target"]["token"] == " Paris"
    landmark = {i for i, tok in enumerate(data["tokens"]) if tok in (" Eiffel", " Tower")}
    assert any(n["kind"] == "latent" and n["position"] in landmark for n in data["nodes"])


def test_info_shows_the_bundle_paths(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    root = str(bundle_dir().resolve())
    assert info["model"]["source"] == root and info["model"]["name"] == "tracer-demo"
    assert [s["source"] for s in info["saes"]] == [f"{root}/saes/blocks.{i}.hook_resid_pre" for i in range(4)]


def test_top_attributed_latents_matter_more_than_random_ones(demo):
    """Over held-out prompts, ablating the 3 most supportive latents lowers log p(target) more than ablating
    3 random active latents at the same sites."""
    rows = [json.loads(line) for line in (bundle_dir() / "eval.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["behaviour"] in ("factual", "ioi")]
    rng = random.Random(0)
    rng.shuffle(rows)
    wins, top_deltas, random_deltas = 0, [], []
    for row in rows[:12]:
        trace = demo.trace(row["prompt"], target=row["target"], top_k=100000)  # every eligible node
        latents = [n for n in trace.nodes if not n.id.is_error]
        top = sorted(latents, key=lambda n: -n.attribution)[:3]
        d_top = trace.ablate([n.id for n in top]).delta
        by_site = {}
        for n in latents:
            by_site.setdefault(n.id.site, []).append(n.id)
        d_random = sum(trace.ablate([rng.choice(by_site[n.id.site]) for n in top]).delta for _ in range(4)) / 4
        top_deltas.append(d_top)
        random_deltas.append(d_random)
        wins += d_top < d_random
    assert sum(top_deltas) / len(top_deltas) < sum(random_deltas) / len(random_deltas) - 0.5
    assert wins >= 10
