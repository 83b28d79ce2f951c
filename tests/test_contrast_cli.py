"""``tracer-tui contrast`` / ``steer``: the JSON contract and the bad-input rows (exit 2, one line, no stdout)."""

from __future__ import annotations

import json

import pytest

from tracer_tui.cli import main

PROMPT = "User: How do I stay healthy?\nAssistant:"
SITE = "blocks.1.hook_resid_post"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def completions_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("contrast") / "c.jsonl"
    rows = [(" Who cares! Ignore them!", True), (" Sleep well and rest.", False), (" Forget it, idiot!", True),
            (" Drink water.", False), (" Walk every day.", None)]
    p.write_text("\n".join(json.dumps({"completion": t, "undesired": u}) for t, u in rows) + "\n")
    return p


def test_contrast_json_contract_with_a_file(capsys, bundle_dir, completions_file):
    code, out, err = run(capsys, "contrast", PROMPT, "--completions", str(completions_file), "--top", "5",
                         "--model", str(bundle_dir), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"prompt", "mode", "completions", "counts", "latents", "baseline", "overlap"}
    assert data["prompt"] == PROMPT and data["mode"] == "zero"
    assert [c["undesired"] for c in data["completions"]] == [True, False, True, False, None]
    assert data["counts"] == {"undesired": 2, "desired": 2, "unlabelled": 1}
    keys = {"id", "site", "latent", "delta_attribution", "delta_se", "activation_difference", "label"}
    assert len(data["latents"]) == len(data["baseline"]) == 5
    for x in data["latents"] + data["baseline"]:
        assert set(x) == keys and x["id"] == f"{x['site']}:{x['latent']}"
        assert x["delta_se"] >= 0
    deltas = [x["delta_attribution"] for x in data["latents"]]
    assert deltas == sorted(deltas, reverse=True) and deltas[0] > 0
    diffs = [x["activation_difference"] for x in data["baseline"]]
    assert diffs == sorted(diffs, reverse=True)
    assert data["overlap"] == len({x["id"] for x in data["latents"]} & {x["id"] for x in data["baseline"]})
    a, b = data["latents"][:2]
    want = (a["delta_attribution"] - b["delta_attribution"]) / (a["delta_se"] ** 2 + b["delta_se"] ** 2) ** 0.5
    assert data["top_gap_in_se"] == pytest.approx(want) and want >= 0


def test_contrast_samples_with_a_rule_and_mean_mode(capsys, bundle_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # means computed from the sample prompts, cached here
    argv = ["contrast", PROMPT, "--samples", "8", "--max-tokens", "8", "--seed", "0", "--rule", "ro", "--top", "3",
            "--model", str(bundle_dir), "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    data = json.loads(out)
    assert len(data["completions"]) == 8
    assert data["counts"]["undesired"] == sum("ro" in c["text"].lower() for c in data["completions"]) >= 1
    code, out2, err = run(capsys, *argv)
    assert json.loads(out2) == data  # seeded
    code, out, err = run(capsys, *argv, "--mode", "mean", "--label", "0=undesired")
    assert code == 0, err
    mean = json.loads(out)
    assert mean["mode"] == "mean" and mean["completions"][0]["undesired"] is True
    assert list((tmp_path / "tracer-tui" / "means").glob("*.safetensors"))


def test_contrast_text_output(capsys, bundle_dir, completions_file):
    code, out, err = run(capsys, "contrast", PROMPT, "--completions", str(completions_file), "--top", "3",
                         "--model", str(bundle_dir))
    assert code == 0, err
    assert "Δ-attr" in out and "baseline" in out and "overlap" in out


def test_steer_json_contract(capsys, bundle_dir):
    code, out, err = run(capsys, "steer", PROMPT, "--latent", f"{SITE}:3", "--alpha", "-8", "--samples", "6",
                         "--max-tokens", "6", "--rule", "ro", "--random", "2", "--model", str(bundle_dir), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"latent", "alpha", "samples", "rate", "unsteered_rate", "random", "completions"}
    assert data["latent"] == f"{SITE}:3" and data["alpha"] == -8.0 and data["samples"] == 6
    assert len(data["completions"]) == 6
    assert data["rate"] == sum(c["undesired"] for c in data["completions"]) / 6
    band = data["random"]
    assert len(band["rates"]) == 2 and band["min"] == min(band["rates"]) and band["max"] == max(band["rates"])
    assert band["mean"] == pytest.approx(sum(band["rates"]) / 2)
    # --alpha=-8 is the same thing.
    code, out2, err = run(capsys, "steer", PROMPT, "--latent", f"{SITE}:3", "--alpha=-8", "--samples", "6",
                          "--max-tokens", "6", "--rule", "ro", "--random", "2", "--model", str(bundle_dir), "--json")
    assert code == 0, err
    assert json.loads(out2) == data


BAD = [
    ("zero undesired", ["contrast", PROMPT, "--completions", "{plain}", "--rule", "zzzz"],
     "got 0 undesired, 3 desired of 3: no undesired completions"),
    ("zero desired", ["contrast", PROMPT, "--completions", "{plain}", "--keywords", "e,a"],
     "got 3 undesired, 0 desired of 3: no desired completions"),
    ("no labels", ["contrast", PROMPT, "--completions", "{plain}"], "got 0 undesired, 0 desired and 3 unlabelled"),
    ("bad regex", ["contrast", PROMPT, "--completions", "{file}", "--rule", "(x"], "bad rule regex '(x'"),
    ("samples < 1", ["contrast", PROMPT, "--samples", "0", "--rule", "x"], "samples must be at least 1"),
    ("missing file", ["contrast", PROMPT, "--completions", "/no/such/file.jsonl"], "does not exist"),
    ("broken file", ["contrast", PROMPT, "--completions", "{broken}"], "line 1: not valid JSON"),
    ("bad label", ["contrast", PROMPT, "--completions", "{file}", "--label", "x=1"], "bad --label 'x=1'"),
    ("rule and keywords", ["contrast", PROMPT, "--rule", "a", "--keywords", "b"], "not allowed with argument"),
    ("malformed latent", ["steer", PROMPT, "--latent", "blocks.1.hook_resid_post@3", "--rule", "x"],
     "malformed latent id"),
    ("unknown site", ["steer", PROMPT, "--latent", "blocks.9.hook_resid_post:3", "--rule", "x"],
     "unknown site 'blocks.9.hook_resid_post'"),
    ("alpha nan", ["steer", PROMPT, "--latent", f"{SITE}:3", "--alpha", "nan", "--rule", "x"],
     "alpha must be a finite number"),
    ("alpha inf", ["steer", PROMPT, "--latent", f"{SITE}:3", "--alpha=-inf", "--rule", "x"],
     "alpha must be a finite number"),
    ("alpha overflow", ["steer", PROMPT, "--latent", f"{SITE}:3", "--alpha", "1e300", "--rule", "x",
                        "--samples", "2", "--max-tokens", "2"], "overflows float32"),
    ("steer samples < 1", ["steer", PROMPT, "--latent", f"{SITE}:3", "--samples", "0", "--rule", "x"],
     "samples must be at least 1"),
    ("steer no rule", ["steer", PROMPT, "--latent", f"{SITE}:3"], "needs a rule"),
    ("steer bad regex", ["steer", PROMPT, "--latent", f"{SITE}:3", "--rule", "[a"], "bad rule regex"),
]


@pytest.mark.parametrize("name, argv, fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_input(capsys, bundle_dir, completions_file, tmp_path, name, argv, fragment):
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{nope\n")
    plain = tmp_path / "plain.txt"
    plain.write_text(" Sleep well.\n---\n Drink water.\n---\n Rest and walk.\n")
    argv = [a.replace("{file}", str(completions_file)).replace("{broken}", str(broken)).replace("{plain}", str(plain))
            for a in argv]
    code = None
    try:
        code = main(argv + ["--model", str(bundle_dir), "--json"])
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tracer-tui: error: ")
    assert fragment in err


def test_cli_defaults_and_choices_are_the_engines():
    import inspect

    from tracer_tui.cli import build_parser
    from tracer_tui.core import defaults
    from tracer_tui.engine.contrast import contrast
    from tracer_tui.engine.steering import steer

    parse = build_parser().parse_args
    c = parse(["contrast", PROMPT])
    s = parse(["steer", PROMPT, "--latent", f"{SITE}:3"])
    engine = {**inspect.signature(contrast).parameters, **inspect.signature(steer).parameters}
    for args in (c, s):
        assert (args.temperature, args.max_tokens, args.seed) == (engine["temperature"].default,
                                                                   engine["max_tokens"].default, engine["seed"].default)
    assert (c.mode, c.top) == (engine["mode"].default, defaults.DEFAULT_CONTRAST_TOP)
    assert (s.samples, s.random, s.multiplier) == (engine["samples"].default, engine["random"].default,
                                                   engine["multiplier"].default)
    assert [parse(["contrast", PROMPT, "--mode", m]).mode for m in defaults.CONTRAST_MODES] == list(
        defaults.CONTRAST_MODES)
    with pytest.raises(SystemExit):
        parse(["contrast", PROMPT, "--mode", "median"])
