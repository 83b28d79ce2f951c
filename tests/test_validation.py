"""Every file boundary goes through one validation layer (core/validation.py), non-finite numbers never pass,
and every number a user types is bounded (docs/errors.md, "Files" and "Bounds")."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from tracer_tui.cli import main
from tracer_tui.core import validation as v
from tracer_tui.core.errors import TracerError

PROMPT = "When Mary and John went to the store, John gave a drink to"
SITE = "blocks.0.hook_resid_pre"


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), (code, out, err)
    assert err.count("\n") == 1 and err.startswith("tracer-tui: error: ") and "unexpected" not in err, err
    return err


@pytest.fixture
def copy(bundle_dir, tmp_path):
    root = tmp_path / "bundle"
    shutil.copytree(bundle_dir, root)
    return root


# ---- model config.json and weights -------------------------------------------------------------------------------
def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


MODEL_FILES = [
    ("truncated config", lambda m: (m / "config.json").write_text((m / "config.json").read_text()[:40]),
     ["config.json", "not valid JSON (truncated?)"]),
    ("field of the wrong type", lambda m: _edit_json(m / "config.json", lambda d: d.update(d_model="16")),
     ["config.json", "field 'd_model' must be a positive integer, got string '16'"]),
    ("boolean for an int", lambda m: _edit_json(m / "config.json", lambda d: d.update(n_layers=True)),
     ["field 'n_layers' must be a positive integer, got boolean True"]),
    ("config is a list", lambda m: (m / "config.json").write_text("[1, 2]"), ["must be an object of keys, got list"]),
    ("NaN literal in the config", lambda m: (m / "config.json").write_text('{"d_model": NaN}'),
     ["NaN is not a number JSON allows"]),
    ("d_model not matching the weights", lambda m: _edit_json(m / "config.json", lambda d: d.update(d_model=32,
                                                                                                  d_head=16)),
     ["model.safetensors' does not fit the model in config.json", "W_K is [2, 16, 8], config.json implies [2, 32, 16]"]),
    ("100k deep config", lambda m: (m / "config.json").write_text("[" * 100_000 + "]" * 100_000),
     ["nested more than 64 levels deep"]),
    ("truncated weights", lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:500]),
     ["could not read model weights", "model.safetensors' (damaged or truncated?)"]),
]


@pytest.mark.parametrize("name,damage,fragments", MODEL_FILES, ids=[c[0] for c in MODEL_FILES])
def test_damaged_model_bundle_is_one_line_naming_the_file_and_field(capsys, copy, name, damage, fragments):
    damage(copy / "model")
    err = _one_line_error(capsys, ["info", "--model", str(copy)])
    for fragment in fragments:
        assert fragment in err, err


def _poison(path, key, value=float("nan")):
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    state[key] = state[key].clone()
    state[key].view(-1)[0] = value
    save_file(state, str(path))


@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_model_weights_are_refused_at_load_with_the_tensor_name(capsys, copy, value):
    _poison(copy / "model" / "model.safetensors", "blocks.0.attn.W_Q", value)
    err = _one_line_error(capsys, ["info", "--model", str(copy)])
    assert "tensor blocks.0.attn.W_Q holds 1 NaN or infinite value(s)" in err and "model.safetensors" in err


# ---- SAE cfg.json, weights, labels.json --------------------------------------------------------------------------
def _sae(root):
    return root / "saes" / SITE


SAE_FILES = [
    ("hook that is an int", lambda s: _edit_json(s / "cfg.json", lambda d: d["metadata"].update(hook_name=5)),
     ["cfg.json", "field 'metadata.hook_name' must be a non-empty string, got integer 5"]),
    ("truncated cfg.json", lambda s: (s / "cfg.json").write_text((s / "cfg.json").read_text()[:30]),
     ["cfg.json", "not valid JSON (truncated?)"]),
    ("d_sae not matching the weights", lambda s: _edit_json(s / "cfg.json", lambda d: d.update(d_sae=64)),
     ["sae_weights.safetensors' do not fit cfg.json (d_in=16, d_sae=64)", "W_enc is [16, 48], expected [16, 64]"]),
    ("d_in of the wrong type", lambda s: _edit_json(s / "cfg.json", lambda d: d.update(d_in=16.5)),
     ["field 'd_in' must be a positive integer, got number 16.5"]),
    ("NaN in the decoder", lambda s: _poison(s / "sae_weights.safetensors", "W_dec"),
     ["SAE weights", "tensor W_dec holds 1 NaN or infinite value(s)"]),
    ("truncated labels.json", lambda s: (s / "labels.json").write_text('{"0": {"label": "x'),
     ["labels file", "labels.json'", "not valid JSON (truncated?)"]),
    ("labels of the wrong type", lambda s: (s / "labels.json").write_text('{"0": {"label": 3}}'),
     ["labels.json'", "field '0.label' must be a string, got integer 3"]),
    ("labels with a non-latent key", lambda s: (s / "labels.json").write_text('{"x": {}}'),
     ["labels.json'", "key 'x' must be a latent number"]),
]


@pytest.mark.parametrize("name,damage,fragments", SAE_FILES, ids=[c[0] for c in SAE_FILES])
def test_damaged_sae_is_one_line_naming_the_file_and_field(capsys, copy, name, damage, fragments):
    damage(_sae(copy))
    err = _one_line_error(capsys, ["trace", PROMPT, "--model", str(copy), "--json"])
    for fragment in fragments:
        assert fragment in err, err


def test_good_labels_still_load(copy):
    from tracer_tui.engine.bundle import read_labels

    (_sae(copy) / "labels.json").write_text(json.dumps({"3": {"label": "x", "snippets": ["a"], "promoted": [],
                                                             "suppressed": ["b"]}}))
    assert read_labels(_sae(copy))["3"]["label"] == "x"


# ---- means caches ------------------------------------------------------------------------------------------------
def test_damaged_means_cache_is_rebuilt_and_writes_are_atomic(tracer, tmp_path, monkeypatch):
    from tracer_tui.engine import bundle, means

    texts = ["When Mary and John went to the store", "The cat sat on the mat"]
    first = means.site_means(tracer, texts=texts, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("*.safetensors")
    for damage in (lambda p: p.write_bytes(p.read_bytes()[:100]), lambda p: _poison(p, SITE)):
        damage(cached)
        with pytest.raises(TracerError):
            bundle.read_means(cached)
        again = means.site_means(tracer, texts=texts, cache_dir=tmp_path)  # rebuilt, not an error
        assert all(bool((again[k] == first[k]).all()) for k in first)
        assert bundle.read_means(cached).keys() == first.keys()  # and the cache is whole again
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]  # no temp files left behind

    def dies_midway(tensors, filename):
        open(filename, "wb").write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.torch.save_file", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        bundle.write_means(cached, first)
    assert bundle.read_means(cached).keys() == first.keys()  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]


# ---- completions files, sample prompts ---------------------------------------------------------------------------
def test_completions_jsonl_with_a_bom_is_read_as_jsonl(tmp_path):
    from tracer_tui.engine.labeling import read_completions_file

    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"completion": " a", "undesired": true}\n{"completion": " b"}\n')
    rows = read_completions_file(path)
    assert [(c.text, c.undesired) for c in rows] == [(" a", True), (" b", None)]


@pytest.mark.parametrize("text,fragment", [
    (b"\xff\xfe junk", "is not UTF-8 text"),
    (b'{"completion": ' + b"[" * 100_000 + b"\n", "line 1: nested more than 64 levels deep"),
    (b'{"completion": NaN}\n', "line 1: NaN is not a number JSON allows"),
], ids=["not utf-8", "100k deep line", "NaN"])
def test_bad_completions_files_are_one_line(tmp_path, text, fragment):
    from tracer_tui.engine.labeling import read_completions_file

    path = tmp_path / "c.jsonl"
    path.write_bytes(text)
    with pytest.raises(TracerError, match=None) as err:
        read_completions_file(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text,fragment", [
    ('title = "t"\nprompt = 5\ntarget = " x"\n', "field 'prompt' must be a non-empty string, got integer 5"),
    ('title = "t"\nprompt = "p"\ntarget = " x"\nneeds_hf_cache = "yes"\n', "field 'needs_hf_cache' must be a boolean"),
    ("title = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 64 levels deep"),
], ids=["prompt not text", "flag not a boolean", "100k deep"])
def test_bad_sample_prompt_files_name_the_file_and_field(tmp_path, text, fragment):
    from tracer_tui.core.prompts import load_sample_prompt

    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        load_sample_prompt(path)
    assert str(err.value).startswith(f"{path}: ") and fragment in str(err.value), str(err.value)


def test_validation_layer_never_raises_another_type(tmp_path):
    (tmp_path / "d").mkdir()
    for path in (tmp_path / "missing.json", tmp_path / "d"):
        with pytest.raises(v.FileFormatError):
            v.read_json(path, "x")
    with pytest.raises(v.FileFormatError, match="field 'a' is missing; expected a positive integer"):
        v.check({}, {"a": v.positive_int()}, tmp_path / "f.json", "x")
    with pytest.raises(v.FileFormatError, match="field 'a' must be a finite number, got inf"):
        v.check({"a": math.inf}, {"a": v.Field((float,))}, tmp_path / "f.json", "x")


# ---- non-finite results ------------------------------------------------------------------------------------------
def test_json_writer_refuses_non_finite_values():
    from tracer_tui.engine.serialize import dumps

    with pytest.raises(TracerError, match=r"is not finite: ablation.value = nan"):
        dumps({"ablation": {"value": math.nan}})
    with pytest.raises(TracerError, match=r"nodes\[1\].attribution = inf"):
        dumps({"nodes": [{"attribution": 1.0}, {"attribution": math.inf}]})
    assert json.loads(dumps({"a": [1.5, None]})) == {"a": [1.5, None]}


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_a_non_finite_trace_result_is_an_error_not_nan(capsys, bundle_dir, monkeypatch, as_json):
    from tracer_tui.engine import serialize

    real = serialize.trace_to_json

    def overflowed(*args, **kwargs):
        data = real(*args, **kwargs)
        data["target"]["value"] = math.nan  # what an ablation scale of 1e308 used to print
        return data

    monkeypatch.setattr(serialize, "trace_to_json", overflowed)
    err = _one_line_error(capsys, ["trace", PROMPT, "--model", str(bundle_dir)] + (["--json"] if as_json else []))
    assert "the trace is not finite: target.value = nan" in err


# ---- bounds on typed numbers -------------------------------------------------------------------------------------
BOUNDS = [
    ("seed 1e70", ["steer", PROMPT, "--latent", f"{SITE}:1", "--rule", "x", "--seed", str(10**70)],
     "seed must be between 0 and 9223372036854775807"),
    ("negative seed", ["contrast", PROMPT, "--rule", "x", "--seed", "-1"], "seed must be between 0"),
    ("samples 10 million", ["contrast", PROMPT, "--rule", "x", "--samples", "10000000"],
     "number of samples must be between 1 and 100000 (more would not fit in memory)"),
    ("steer samples x random", ["steer", PROMPT, "--latent", f"{SITE}:1", "--rule", "x", "--samples", "1000",
                                "--random", "1000"], "steering would sample 1000 x (1000 random + 2)"),
    ("max tokens past the context", ["contrast", PROMPT, "--rule", "x", "--samples", "2", "--max-tokens", "100000"],
     "would exceed the model's context of 64"),
    ("tiny temperature", ["contrast", PROMPT, "--rule", "x", "--temperature", "1e-300"],
     "temperature must be 0 (greedy) or at least 0.0001"),
    ("huge temperature", ["contrast", PROMPT, "--rule", "x", "--temperature", "1e300"], "temperature must be"),
    ("bench tokens 100000", ["bench", "--tiny", "--tokens", "100000"],
     "--tokens must be between 2 and 160 (the tiny model's context)"),
    ("bench repeat", ["bench", "--tiny", "--repeat", str(10**9)], "--repeat must be between 1 and 1000"),
    ("multiplier 0", ["steer", PROMPT, "--latent", f"{SITE}:1", "--rule", "x", "--multiplier", "0"],
     "multiplier must not be 0"),
    ("alpha 0", ["steer", PROMPT, "--latent", f"{SITE}:1", "--rule", "x", "--alpha", "0"], "alpha must not be 0"),
    ("huge multiplier", ["steer", PROMPT, "--latent", f"{SITE}:1", "--rule", "x", "--multiplier", "1e300",
                         "--samples", "2", "--max-tokens", "2"], "overflows float32"),
    ("min-attr nan", ["trace", PROMPT, "--min-attr", "nan"], "minimum |attribution| must be a finite number, got nan"),
    ("min-attr inf", ["trace", PROMPT, "--min-attr", "inf"], "minimum |attribution| must be a finite number"),
    ("ablation scale 1e308", ["trace", PROMPT, "--ablate", f"{SITE}:1@2=1e308"],
     f"scale for {SITE}:1@2 must be between -1e+06 and 1e+06"),
    ("top 1e12", ["trace", PROMPT, "--top", str(10**12)], "top-K must be between 1 and 100000"),
    ("depth 1e9", ["trace", PROMPT, "--depth", str(10**9)], "--depth must be between 1 and 64"),
    ("verify 1e9", ["trace", PROMPT, "--verify", str(10**9)], "--verify must be between 1 and 10000"),
    ("non-UTF-8 target", ["trace", PROMPT, "--target", " Mary\udcff"],
     "--target contains bytes that are not valid UTF-8; re-encode it as UTF-8"),
    ("non-UTF-8 rule", ["contrast", PROMPT, "--rule", "\udcfe"], "--rule contains bytes that are not valid UTF-8"),
    ("device cpu:7", ["trace", PROMPT, "--device", "cpu:7"], "device 'cpu:7': the CPU has no device index; use "
                                                              "--device cpu"),
    ("device cuda:x", ["trace", PROMPT, "--device", "cuda:x"], "the index must be a number"),
]


@pytest.mark.parametrize("name,argv,fragment", BOUNDS, ids=[c[0] for c in BOUNDS])
def test_typed_numbers_are_bounded(capsys, bundle_dir, name, argv, fragment):
    extra = [] if argv[0] == "bench" else ["--model", str(bundle_dir)]
    err = _one_line_error(capsys, argv + extra + ["--json"])
    assert fragment in err, err


def test_paths_of_the_wrong_kind_say_what_is_wrong(capsys, bundle_dir, tmp_path):
    a_file = tmp_path / "f.txt"
    a_file.write_text("x")
    err = _one_line_error(capsys, ["trace", PROMPT, "--model", str(bundle_dir), "--sae", str(a_file)])
    assert f"SAE '{a_file}' is a file; expected an SAE directory" in err
    err = _one_line_error(capsys, ["contrast", PROMPT, "--model", str(bundle_dir), "--rule", "x", "--mode", "mean",
                                   "--means-text", str(tmp_path)])
    assert f"means text file '{tmp_path}' is a directory; expected a text file" in err
    err = _one_line_error(capsys, ["contrast", PROMPT, "--model", str(bundle_dir), "--rule", "x", "--completions",
                                   str(tmp_path)])
    assert f"completions file '{tmp_path}' is a directory" in err
    err = _one_line_error(capsys, ["info", "--model", str(a_file)])
    assert f"model '{a_file}' is a file; expected a bundle directory or a model name" in err


def test_closed_or_full_stdout_is_one_line(bundle_dir):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "tracer_tui.cli", "trace", PROMPT, "--model", str(bundle_dir), "--json"]
    closed = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            timeout=300, preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2 and "standard output is closed" in closed.stderr, closed.stderr
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            out = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
        assert out.returncode == 2 and "could not write the result to standard output" in out.stderr, out.stderr
