"""Every bad input ends in exit code 2 and one clear line on stderr, with nothing on stdout."""

from __future__ import annotations

import pytest

from tracer_tui.cli import main

PROMPT = "When Mary and John went to the park, John gave the ball to"


@pytest.fixture(scope="module")
def bad_saes(tmp_path_factory, bundle_dir):
    from helpers import make_sae

    root = tmp_path_factory.mktemp("bad_saes")
    make_sae("blocks.7.hook_resid_pre", 16).save_model(root / "absent_hook")
    make_sae("blocks.0.hook_resid_pre", 8).save_model(root / "narrow")
    return root


CASES = [
    ("empty prompt", ["trace", ""], "empty prompt"),
    ("whitespace prompt", ["trace", "   \n "], "only whitespace"),
    ("control character", ["trace", "Mary\x07John"], "control character U+0007"),
    ("non-UTF-8 prompt", ["trace", "Mary \udcff"], "not valid UTF-8"),
    ("prompt too long", ["trace", "John " * 80], "longer than the model's context of 64"),
    ("multi-token target", ["trace", PROMPT, "--target", " Mary and John"], "tokens"),
    ("target id out of vocabulary", ["trace", PROMPT, "--target-id", "99999"], "not in the vocabulary"),
    ("position out of range", ["trace", PROMPT, "--position", "500"], "out of range"),
    ("contrast equals target", ["trace", PROMPT, "--target", " Mary", "--metric", "logit-diff", "--contrast", " Mary"],
     "equals the target"),
    ("multi-token contrast", ["trace", PROMPT, "--metric", "logit-diff", "--contrast", " Mary and John"],
     "foil ' Mary and John' is 3 tokens"),
    ("logit-diff without contrast", ["trace", PROMPT, "--metric", "logit-diff"], "needs a foil token"),
    ("K = 0", ["trace", PROMPT, "--top", "0"], "top-K must be a positive"),
    ("K negative", ["trace", PROMPT, "--top", "-3"], "top-K must be a positive"),
    ("depth 0", ["trace", PROMPT, "--depth", "0"], "--depth must be at least 1"),
    ("malformed node id", ["trace", PROMPT, "--ablate", "layer3-latent7"], "malformed node id"),
    ("unknown node site", ["trace", PROMPT, "--ablate", "blocks.9.hook_resid_pre:1@2"], "no SAE on site"),
    ("unknown latent", ["trace", PROMPT, "--ablate", "blocks.0.hook_resid_pre:4000@2"], "outside 0..47"),
    ("bad ablation scale", ["trace", PROMPT, "--ablate", "blocks.0.hook_resid_pre:1@2=big"], "bad scale"),
    ("empty target", ["trace", PROMPT, "--target", ""], "empty target token"),
    ("negative minimum attribution", ["trace", PROMPT, "--min-attr", "-1"], "minimum |attribution| must be >= 0"),
    ("verify 0", ["trace", PROMPT, "--verify", "0"], "--verify must be at least 1"),
    ("node past the target position", ["trace", PROMPT, "--ablate", "blocks.0.hook_resid_pre:1@200"],
     "position 200 is past the target position"),
    ("non-finite ablation scale", ["trace", PROMPT, "--ablate", "blocks.0.hook_resid_pre:1@2=nan"],
     "must be a finite number, got nan"),
    ("unknown dtype", ["trace", PROMPT, "--dtype", "float8"], "unknown dtype"),
    ("float16 on cpu", ["trace", PROMPT, "--dtype", "float16", "--device", "cpu"], "not supported on the CPU"),
    ("unknown device", ["trace", PROMPT, "--device", "tpu"], "device"),
]


@pytest.mark.parametrize("name,argv,fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input(capsys, bundle_dir, name, argv, fragment):
    code = main(argv + ["--model", str(bundle_dir), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("tracer-tui: error: ")
    assert fragment in err


def _expect_error(capsys, argv, fragment):
    code = main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and fragment in err, err


def test_unknown_model_name(capsys):
    _expect_error(capsys, ["trace", PROMPT, "--model", "not-a-model-xyz", "--sae", "gpt2-small-res-jb"],
                  "unknown model 'not-a-model-xyz'")


def test_missing_model_directory(capsys, tmp_path):
    _expect_error(capsys, ["info", "--model", str(tmp_path / "nope")], "does not exist")


def test_directory_that_is_not_a_bundle(capsys, tmp_path):
    _expect_error(capsys, ["info", "--model", str(tmp_path)], "is not a model bundle")


def test_unknown_sae_release(capsys, bundle_dir):
    _expect_error(capsys, ["info", "--model", str(bundle_dir), "--sae", "gpt2-small-res-jx"],
                  "unknown SAE release 'gpt2-small-res-jx' (did you mean gpt2-small-res-jb")


def test_unknown_sae_id(capsys, bundle_dir):
    _expect_error(capsys, ["info", "--model", str(bundle_dir), "--sae", "gpt2-small-res-jb/blocks.99.hook_resid_pre"],
                  "unknown SAE id 'blocks.99.hook_resid_pre'")


def test_sae_hook_absent_from_model(capsys, bundle_dir, bad_saes):
    _expect_error(capsys, ["info", "--model", str(bundle_dir), "--sae", str(bad_saes / "absent_hook")],
                  "reads hook 'blocks.7.hook_resid_pre', which model")


def test_sae_width_mismatch(capsys, bundle_dir, bad_saes):
    _expect_error(capsys, ["info", "--model", str(bundle_dir), "--sae", str(bad_saes / "narrow")],
                  "expects d_in=8")


def test_cuda_unavailable(capsys, bundle_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    _expect_error(capsys, ["info", "--model", str(bundle_dir), "--device", "cuda"], "no CUDA GPU is visible")


def test_no_network_and_empty_cache(capsys, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # huggingface_hub read the environment when it was imported: set its constants too (else ~25 s of retries).
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    _expect_error(capsys, ["info", "--model", "gpt2", "--sae", "gpt2-small-res-jb/blocks.3.hook_resid_pre"],
                  "not in the Hugging Face cache")


def test_empty_list_of_token_ids(tracer):
    from tracer_tui.core.errors import TracerError

    with pytest.raises(TracerError, match="empty prompt: no token ids given"):
        tracer.trace([])


def test_engine_refuses_impossible_requests(tracer):
    from tracer_tui.core.errors import TracerError

    trace = tracer.trace(PROMPT, top_k=100)  # the root's level (the last site) has one error node: reach it
    error = next(n.id for n in trace.nodes if n.id.is_error)
    latent = next(n.id for n in trace.nodes if not n.id.is_error)
    with pytest.raises(TracerError, match=f"cannot expand error node '{error}': only latents have upstream"):
        trace.expand([error])
    with pytest.raises(TracerError, match="has not been expanded: expand it before verifying its children"):
        trace.verify(3, parent=str(latent))
    with pytest.raises(TracerError, match="verify needs k >= 1, got 0"):
        trace.verify(0)


def test_more_nodes_than_exist_is_fine(tracer):
    trace = tracer.trace(PROMPT, top_k=100000)
    assert 0 < len(trace.nodes) == trace.totals["target"]


def test_more_nodes_than_exist_on_the_command_line(capsys, bundle_dir):
    import json

    assert main(["trace", PROMPT, "--top", "100000", "--model", str(bundle_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert 0 < len(data["nodes"]) < 100000  # works, and returns what exists


def test_missing_sae_directory(capsys, bundle_dir, tmp_path):
    _expect_error(capsys, ["info", "--model", str(bundle_dir), "--sae", str(tmp_path / "nosae")], "does not exist")


def test_contrast_equal_to_the_top_prediction(tracer):
    from tracer_tui.core.errors import TracerError

    top = tracer.trace(PROMPT).target
    with pytest.raises(TracerError, match="foil token equals the model's top prediction"):
        tracer.trace(PROMPT, metric="logit-diff", foil_id=top.id)


def test_unexpected_exception_is_one_line_exit_1_and_its_traceback_is_logged(capsys, bundle_dir, monkeypatch,
                                                                            tmp_path):
    """A bug (here injected) is the one "unexpected" line: exit 1, and the traceback is in the debug log it names."""
    from tracer_tui.core import paths
    from tracer_tui.engine.tracer import Tracer

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    import logging

    logger = logging.getLogger("tracer_tui")  # the log handler the CLI opens goes away with the test
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    monkeypatch.setattr(logger, "level", logger.level)
    monkeypatch.setenv("TRACER_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(Tracer, "trace", boom)
    code = main(["trace", PROMPT, "--model", str(bundle_dir)])
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    log = paths.log_file()
    assert err == f"tracer-tui: error: unexpected RuntimeError: boom (traceback in {log})\n"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in boom" in text and "RuntimeError: boom" in text

    monkeypatch.setenv("TRACER_TUI_DATA_DIR", str(log))  # a file where the folder should be: the old advice
    code = main(["trace", PROMPT, "--model", str(bundle_dir)])
    assert capsys.readouterr().err == ("tracer-tui: error: unexpected RuntimeError: boom "
                                       "(set TRACER_TUI_DEBUG=1 for a traceback)\n")


def test_bundle_loading_is_strict(capsys, bundle_dir, tmp_path):
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    from tracer_tui.core.errors import TracerError
    from tracer_tui.engine.bundle import CONFIG, WEIGHTS, load_model_dir

    model = tmp_path / "model"
    shutil.copytree(bundle_dir / "model", model)
    state = load_file(str(model / WEIGHTS))
    state["extra.weight"] = state.pop("unembed.W_U")
    save_file(state, str(model / WEIGHTS))
    with pytest.raises(TracerError, match=r"tensors missing: unembed.W_U; unexpected: extra.weight"):
        load_model_dir(model)
    _expect_error(capsys, ["info", "--model", str(model), "--sae", str(bundle_dir)], "unexpected: extra.weight")

    config = json.loads((model / CONFIG).read_text())
    (model / CONFIG).write_text(json.dumps({**config, "colour": "red"}))
    with pytest.raises(TracerError, match="keys this TransformerLens does not know: colour"):
        load_model_dir(model)
