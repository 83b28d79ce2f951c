"""Verify on every level: real single ablations, equal to ``ablate`` of the same node, cancellable between chunks."""

from __future__ import annotations

import pytest
import torch
from helpers import make_tracer
from reference import metric_with_edits, site_activation, tokens_of

from tracer_tui.core.defaults import VERIFY_CHUNK
from tracer_tui.core.errors import Cancelled
from tracer_tui.core.nodes import TARGET

PROMPT = "When Mary and John went to the park, John gave the ball to"


@pytest.fixture(scope="module")
def tracer64():
    return make_tracer(dtype=torch.float64)


@pytest.mark.parametrize("upstream", ["nearest", "all"])
def test_root_actuals_equal_ablate_of_each_node(tracer64, upstream):
    trace = tracer64.trace(PROMPT, top_k=2 * VERIFY_CHUNK + 1, upstream=upstream)
    result = trace.verify(2 * VERIFY_CHUNK + 1)  # three chunks, the last one short
    assert [p.id for p in result.pairs] == [n.id for n in trace.nodes]
    for pair, node in zip(result.pairs, trace.nodes):
        assert pair.estimated == -node.attribution
        assert pair.actual == pytest.approx(trace.ablate({node.id: 0}).delta, rel=1e-12, abs=1e-12)
    assert trace.verified[TARGET] is result


def test_level_actuals_are_changes_of_the_parent_activation(tracer64):
    """Checked against raw hooks: ablate the child at its site, read the parent latent downstream."""
    trace = tracer64.trace(PROMPT, top_k=5)
    parent = next(n for n in trace.nodes if not n.id.is_error)
    children = trace.expand(parent.id, top_k=VERIFY_CHUNK + 2)[str(parent.id)]
    result = trace.verify(VERIFY_CHUNK + 2, parent=str(parent.id))
    assert [p.id for p in result.pairs] == [c.id for c in children]
    model = tracer64.adapter.model
    tokens = tokens_of(model, PROMPT)
    sae = tracer64.site_by_name[parent.id.site].sae
    probe = (parent.id.site, parent.id.position, sae, parent.id.latent)
    for pair in result.pairs:
        child_sae = tracer64.site_by_name[pair.id.site].sae
        x = site_activation(model, tokens, pair.id.site, pair.id.position)[pair.id.position].reshape(1, -1)
        f = child_sae.encode(x)
        vec = (x - child_sae.decode(f))[0] if pair.id.is_error else f[0, pair.id.latent] * child_sae.W_dec[pair.id.latent]
        ablated = metric_with_edits(model, tokens, trace.target.position, None,
                                    [(pair.id.site, pair.id.position, -vec)], probe=probe)
        assert pair.actual == pytest.approx(ablated - parent.activation, abs=1e-9)


def test_sign_agreement_and_spearman(tracer64):
    from scipy.stats import spearmanr

    trace = tracer64.trace(PROMPT, top_k=10)
    result = trace.verify(10)
    same = [(p.estimated > 0) == (p.actual > 0) and (p.estimated < 0) == (p.actual < 0) for p in result.pairs]
    assert result.sign_agreement == pytest.approx(sum(same) / len(same))
    assert result.spearman == pytest.approx(spearmanr([p.estimated for p in result.pairs],
                                                      [p.actual for p in result.pairs]).statistic)
    data = result.to_json()
    assert data["sign_agreement"] == result.sign_agreement and data["k"] == 10


def test_cancel_stops_between_chunks(tracer64, monkeypatch):
    import tracer_tui.engine.trace as trace_mod

    trace = tracer64.trace(PROMPT, top_k=3 * VERIFY_CHUNK)
    calls = []
    original = trace_mod.run_interventions

    def counting(*args, **kwargs):
        calls.append(len(args[3]))
        return original(*args, **kwargs)

    monkeypatch.setattr(trace_mod, "run_interventions", counting)
    trace.verify(3 * VERIFY_CHUNK)
    assert calls == [VERIFY_CHUNK] * 3
    calls.clear()
    asked = []

    def cancel_after_first_chunk():
        asked.append(True)
        return len(calls) >= 1

    with pytest.raises(Cancelled):
        trace.verify(3 * VERIFY_CHUNK, should_cancel=cancel_after_first_chunk)
    assert calls == [VERIFY_CHUNK]  # the other chunks never ran
    assert TARGET in trace.verified and trace.verified[TARGET].k == 3 * VERIFY_CHUNK  # the earlier result stays


def test_faithfulness_script_on_one_prompt_per_behaviour(capsys):
    import importlib.util
    from pathlib import Path

    from tracer_tui.demo import bundle_dir

    if not (bundle_dir() / "model" / "config.json").is_file():
        pytest.skip("no demo bundle")
    path = Path(__file__).resolve().parent.parent / "scripts" / "faithfulness.py"
    spec = importlib.util.spec_from_file_location("faithfulness", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--limit", "1", "--metrics", "logit-mean", "--upstream", "nearest", "--k", "5"]) == 0
    out = capsys.readouterr().out
    assert "2 prompts" in out
    for behaviour in ("factual", "ioi"):
        for level in ("root", "level1"):
            assert any(line.split()[:4] == [behaviour, "logit-mean", "nearest", level] for line in out.splitlines())
