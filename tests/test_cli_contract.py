"""``tracer-tui trace --json`` / ``info --json``: the documented contract scripts rely on."""

from __future__ import annotations

import json

import pytest

from tracer_tui.cli import main
from tracer_tui.core.defaults import DEFAULT_METRIC

PROMPT = "When Mary and John went to the park, John gave the ball to"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trace_json_contract(capsys, bundle_dir):
    code, out, err = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--top", "4", "--depth", "2",
                         "--verify", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["tokens"][0] == "<|endoftext|>" and len(data["tokens"]) > 5
    t = data["target"]
    assert set(t) >= {"token", "id", "position", "metric", "value", "prob"}
    assert t["position"] == len(data["tokens"]) - 1 and t["metric"] == DEFAULT_METRIC
    assert data["top_predictions"][0]["id"] == t["id"]  # no target given: the top prediction
    assert abs(sum(p["prob"] for p in data["top_predictions"])) <= 1.0 + 1e-6
    keys = {"id", "parent", "kind", "site", "layer", "latent", "position", "token", "activation", "attribution", "label",
            "actual"}
    roots = [n for n in data["nodes"] if n["parent"] == "target"]
    assert len(roots) == 4
    for n in data["nodes"]:
        assert set(n) == keys
        assert n["kind"] in ("latent", "error") and (n["latent"] is None) == (n["kind"] == "error")
        assert n["token"] == data["tokens"][n["position"]]
    # Depth-first: every child directly follows its parent or a sibling.
    seen = ["target"]
    for n in data["nodes"]:
        assert n["parent"] in seen
        seen.append(n["id"])
    assert any(n["parent"] != "target" for n in data["nodes"])
    v = data["verify"]
    assert v["k"] == 3 and len(v["pairs"]) == 3 and set(v["pairs"][0]) == {"id", "estimated", "actual"}
    assert data["upstream"] == "nearest"
    # --verify covers every printed level: the root's and each expanded node's.
    parents = ["target"] + list(dict.fromkeys(n["parent"] for n in data["nodes"] if n["parent"] != "target"))
    assert [lv["parent"] for lv in data["levels"]] == parents and len(parents) > 1
    for lv in data["levels"]:
        assert set(lv) == {"parent", "sites", "spearman", "sign_agreement", "k"} and lv["k"] == 3
        assert lv["sites"] and 0 <= lv["sign_agreement"] <= 1
    assert data["levels"][0]["spearman"] == v["spearman"]
    by_id = {p["id"]: p["actual"] for p in v["pairs"]}
    for n in data["nodes"]:
        level = [m["id"] for m in data["nodes"] if m["parent"] == n["parent"]]
        assert (n["actual"] is None) == (level.index(n["id"]) >= 3)  # the top 3 of each level are verified
        if n["parent"] == "target" and n["id"] in by_id:
            assert n["actual"] == by_id[n["id"]]


def test_trace_json_without_verify_has_null_actuals_and_upstream_all(capsys, bundle_dir):
    code, out, err = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--top", "3", "--depth", "2",
                         "--upstream", "all", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["upstream"] == "all"
    assert all(n["actual"] is None for n in data["nodes"])
    assert all(lv["spearman"] is None and lv["k"] is None for lv in data["levels"])
    assert data["levels"][0]["sites"] == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre",
                                          "blocks.1.hook_resid_post"]


def test_text_report_shows_actual_beside_estimated_and_each_level_rho(capsys, bundle_dir):
    code, out, err = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--top", "3", "--depth", "2",
                         "--verify", "2")
    assert code == 0, err
    assert "estimated Δ" in out and "actual Δ" in out
    assert out.count("verify k=2: ρ") >= 2  # the root level and at least one expanded level


def test_trace_json_with_ablation(capsys, bundle_dir):
    code, out, _ = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--json", "--top", "3")
    first = json.loads(out)
    node = next(n for n in first["nodes"] if n["kind"] == "latent")
    code, out, err = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--json", "--ablate", node["id"])
    assert code == 0, err
    a = json.loads(out)["ablation"]
    assert a["nodes"] == [node["id"]]
    assert a["delta"] == pytest.approx(a["value"] - first["target"]["value"])
    assert a["estimated_delta"] == pytest.approx(-node["attribution"])


def test_target_inside_prompt_is_the_next_token(capsys, bundle_dir):
    code, out, _ = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--position", "4", "--json")
    data = json.loads(out)
    assert data["target"]["position"] == 4
    full = json.loads(run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--json")[1])["tokens"]
    assert data["target"]["token"] == full[5]


def test_metrics_and_explicit_targets(capsys, bundle_dir):
    code, out, err = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--target", " Mary", "--metric",
                         "logit-diff", "--contrast", " John", "--json")
    assert code == 0, err
    t = json.loads(out)["target"]
    assert t["token"] == " Mary" and t["metric"] == "logit-diff"


def test_info_json(capsys, bundle_dir):
    code, out, err = run(capsys, "info", "--model", str(bundle_dir), "--json")
    assert code == 0, err
    info = json.loads(out)
    m = info["model"]
    assert set(m) >= {"name", "layers", "d_model", "vocab", "device", "source"}
    assert m["source"] == str(bundle_dir.resolve()) and m["layers"] == 2
    assert [s["site"] for s in info["saes"]] == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre",
                                                 "blocks.1.hook_resid_post"]
    assert all(s["source"].startswith(str(bundle_dir.resolve())) and s["d_sae"] == 48 for s in info["saes"])


def test_human_readable_trace(capsys, bundle_dir):
    code, out, _ = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--top", "3")
    assert code == 0 and "target" in out and "attribution" in out


@pytest.mark.parametrize("prob,metric,noted", [(0.995, "logprob", True), (0.5, "logprob", False),
                                               (0.995, "logit", False)])
def test_text_report_warns_when_logprob_is_saturated(prob, metric, noted):
    from tracer_tui.cli.render import render_trace

    data = {"target": {"token": " Paris", "id": 1, "position": 3, "metric": metric, "value": -0.01, "prob": prob},
            "top_predictions": [], "nodes": []}
    assert ("saturated" in render_trace(data)) == noted


def test_an_sae_trained_on_another_model_is_a_warning_on_stderr(tmp_path, capsys):
    """An SAE whose metadata names another model loads (it may be a fine-tune), but the user hears about it once,
    on stderr, and --json output on stdout stays one valid object."""
    from helpers import make_model, make_sae

    from tracer_tui.engine.bundle import save_model_dir

    model = make_model(seed=4)
    save_model_dir(model, tmp_path / "model")
    make_sae("blocks.1.hook_resid_pre", model.cfg.d_model, seed=4, model_name="pythia-70m").save_model(
        tmp_path / "saes" / "blocks.1.hook_resid_pre")
    assert main(["trace", "When Mary and John", "--model", str(tmp_path), "--json"]) == 0
    out, err = capsys.readouterr()
    json.loads(out)
    assert err.count("warning:") == 1 and "trained on model 'pythia-70m'" in err, err


def test_a_latent_reached_by_several_paths_lists_its_children_once(capsys, bundle_dir):
    """The explored structure is a DAG: every (parent, node) edge is one record, and no subtree is repeated under
    each path to it (a depth-4 trace once printed millions of records)."""
    code, out, err = run(capsys, "trace", PROMPT, "--model", str(bundle_dir), "--top", "6", "--depth", "4", "--json")
    assert code == 0, err
    nodes = json.loads(out)["nodes"]
    edges = [(n["parent"], n["id"]) for n in nodes]
    assert len(edges) == len(set(edges))
    parents = {}
    for n in nodes:
        parents.setdefault(n["id"], set()).add(n["parent"])
    shared = [i for i, p in parents.items() if len(p) > 1 and any(e[0] == i for e in edges)]
    assert shared, "this prompt should reach some expanded latent by two paths"
    for node in shared:  # its children are listed once, however many parents it has
        assert sum(1 for e in edges if e[0] == node) <= 6
