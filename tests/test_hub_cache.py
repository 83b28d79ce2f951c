"""Real model names and registry SAEs, offline: a synthetic Hugging Face cache (tests/hub_cache.py) read by the same
code paths as ``--model gpt2 --sae RELEASE/ID``; fail-fast on bad ids; going offline fast; no progress bars."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import hub_cache
import pytest
from reference import metric_with_edits, site_activation, tokens_of

from tracer_tui.cli import main

PROMPT = "The Eiffel Tower is in the city of"
RES0 = f"{hub_cache.RES_JB}/blocks.0.hook_resid_pre"
RES1 = f"{hub_cache.RES_JB}/blocks.1.hook_resid_pre"
TOPK1 = f"{hub_cache.V5_32K}/blocks.1.hook_resid_post"
TOPK7 = f"{hub_cache.V5_32K}/blocks.7.hook_resid_post"  # the acceptance's SAE
HOOKZ1 = f"{hub_cache.HOOK_Z}/blocks.1.hook_z"
BARS = ("%|", "it/s", "Loading", "Writing")


@pytest.fixture(scope="session")
def hf_home(tmp_path_factory):
    return hub_cache.build(tmp_path_factory.mktemp("hf_home"))


def _point_at(monkeypatch, home: Path, offline: bool = True):
    """HF_HOME and offline mode for this process: the environment and huggingface_hub's public constants (read at
    call time by huggingface_hub and transformers; already imported by the fixture builder)."""
    from huggingface_hub import constants

    from tracer_tui.engine import hub

    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    hub.reset()
    monkeypatch.setattr(hub, "_checked", None)


@pytest.fixture
def offline(monkeypatch, hf_home):
    import torch

    _point_at(monkeypatch, hf_home)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield hf_home
    torch.set_num_threads(threads)


def run(capsys, *argv):
    code = main([*argv, "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


def no_bars(err: str):
    assert not any(b in err for b in BARS), err


# ---- loading and tracing through the names a user types ----------------------------------------------------------
def test_info_loads_gpt2_and_registry_saes_of_each_format_from_the_cache(capsys, offline):
    code, out, err = run(capsys, "info", "--json", "--model", "gpt2", "--sae", RES0, "--sae", RES1, "--sae", TOPK1,
                         "--sae", HOOKZ1)
    assert code == 0, err
    no_bars(err)
    info = json.loads(out)
    m = info["model"]
    assert (m["name"], m["source"], m["layers"], m["d_model"], m["n_ctx"]) == ("gpt2", "gpt2", hub_cache.N_LAYERS, 64, 64)
    by_source = {s["source"]: s for s in info["saes"]}
    assert set(by_source) == {RES0, RES1, TOPK1, HOOKZ1}
    assert by_source[HOOKZ1]["site"] == "blocks.1.attn.hook_z" and by_source[HOOKZ1]["d_in"] == 64
    assert by_source[TOPK1]["site"] == "blocks.1.hook_resid_post"
    assert by_source[RES0]["neuronpedia"] == "gpt2-small/0-res-jb"  # registry metadata comes along
    assert [s["site"] for s in info["saes"]] == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre",
                                                 "blocks.1.attn.hook_z", "blocks.1.hook_resid_post"]


def test_info_text_names_the_hub_cache_and_offline_mode(capsys, offline):
    code, out, err = run(capsys, "info", "--model", "gpt2", "--sae", RES0)
    assert code == 0, err
    assert f"hub    cache {offline / 'hub'}  (offline)" in out
    assert "source: gpt2-small-res-jb/blocks.0.hook_resid_pre" in out


def test_formats_load_as_their_architectures_with_sparsity_where_shipped(offline):
    from tracer_tui.engine.tracer import Tracer

    tracer = Tracer.load(model="gpt2", saes=[RES0, TOPK1, HOOKZ1], device="cpu")
    by = {s.source: s for s in tracer.saes}
    assert by[RES0].sae.cfg.architecture() == "standard"
    assert by[TOPK1].sae.cfg.architecture() == "topk" and by[TOPK1].sae.cfg.normalize_activations == "layer_norm"
    assert by[HOOKZ1].hook_z
    assert by[RES0].density(0) is not None  # sparsity.safetensors read from the cache
    assert by[TOPK1].density(0) is None  # that release ships none: missing offline is not an error


def test_trace_ablate_verify_on_the_cached_model(capsys, offline):
    base = ("--model", "gpt2", "--sae", RES0, "--sae", HOOKZ1)
    code, out, err = run(capsys, "trace", PROMPT, *base, "--top", "4", "--depth", "2", "--verify", "2", "--json")
    assert code == 0, err
    no_bars(err)
    data = json.loads(out)
    assert data["verify"]["k"] == 2 and len(data["verify"]["pairs"]) == 2
    assert {n["site"] for n in data["nodes"]} <= {"blocks.0.hook_resid_pre", "blocks.1.attn.hook_z"}
    node = data["nodes"][0]["id"]
    code, out, err = run(capsys, "trace", PROMPT, *base, "--ablate", node, "--json")
    assert code == 0, err
    ablation = json.loads(out)["ablation"]
    assert ablation["nodes"] == [node] and ablation["scales"] == [0.0] and isinstance(ablation["delta"], float)


def _reference(*sources):
    """The model and SAEs as TransformerLens and SAE-Lens load them from the same cache, in float64: no tracer_tui
    code, so the numbers below are an independent check of what the CLI printed."""
    import torch
    from sae_lens import SAE
    from transformer_lens import HookedTransformer

    model = HookedTransformer.from_pretrained("gpt2", device="cpu", dtype=torch.float64)
    saes = {}
    for source in sources:
        release, _, sae_id = source.partition("/")
        sae = SAE.from_pretrained(release, sae_id, device="cpu", dtype="float64")
        saes[sae.cfg.metadata.hook_name] = sae
    return model, saes


def test_topk_layer_norm_sae_numbers_match_finite_differences_and_real_ablations(capsys, offline):
    """``--model gpt2 --sae gpt2-small-resid-post-v5-32k/blocks.7.hook_resid_post``: OpenAI's v5 TopK SAEs
    normalise their input (layer_norm), whose statistics SAE-Lens keeps between encode and decode (that crashed the
    second decode). Each latent's attribution is the central finite difference of the vector it writes, its
    ablation (``--ablate``, ``--verify``) moves the metric as removing that vector does, and to first order by
    minus its attribution. Layer 1's SAE is pooled in (``--upstream all``), so its effects pass through attention
    and 6 more blocks."""
    import torch
    from test_sae_architectures import EPS, written_vector

    base = ("trace", PROMPT, "--model", "gpt2", "--sae", TOPK1, "--sae", TOPK7, "--metric", "logprob", "--json",
            "--upstream", "all", "--top", "10")
    code, out, err = run(capsys, *base, "--verify", "4")
    assert code == 0, err
    no_bars(err)
    data = json.loads(out)
    model, saes = _reference(TOPK1, TOPK7)
    capsys.readouterr()  # TransformerLens's "Loaded pretrained model" line
    tokens = tokens_of(model, PROMPT)
    pos, tid = data["target"]["position"], data["target"]["id"]

    def metric(*edits):
        return metric_with_edits(model, tokens, pos, tid, list(edits), metric="logprob")

    clean = metric()
    assert data["target"]["value"] == pytest.approx(clean, rel=1e-5)
    latents = [n for n in data["nodes"] if n["kind"] == "latent"]
    assert {n["site"] for n in latents} == {"blocks.1.hook_resid_post", "blocks.7.hook_resid_post"}, latents
    removed = {}
    for n in data["nodes"]:  # latents and error nodes (an error node writes e = x - decode(encode(x)))
        sae, site, p = saes[n["site"]], n["site"], n["position"]
        x = site_activation(model, tokens, site, pos)[p]
        with torch.no_grad():
            if n["kind"] == "latent":
                assert n["activation"] == pytest.approx(float(sae.encode(x.reshape(1, -1))[0, n["latent"]]), rel=1e-4)
                vec = written_vector(sae, x, n["latent"])
            else:
                vec = x - sae.decode(sae.encode(x.reshape(1, -1)))[0]
        fd = (metric((site, p, EPS * vec)) - metric((site, p, -EPS * vec))) / (2 * EPS)
        assert n["attribution"] == pytest.approx(fd, rel=2e-3, abs=1e-4), n["id"]
        removed[n["id"]] = metric((site, p, -vec)) - clean
    pairs = data["verify"]["pairs"]
    assert len(pairs) == 4
    for pair in pairs:
        assert pair["actual"] == pytest.approx(removed[pair["id"]], rel=2e-3, abs=1e-4), pair
    node = latents[0]
    code, out, err = run(capsys, *base, "--ablate", node["id"])
    assert code == 0, err
    ablation = json.loads(out)["ablation"]
    assert ablation["nodes"] == [node["id"]]
    assert ablation["delta"] == pytest.approx(removed[node["id"]], rel=2e-3, abs=1e-4)
    assert ablation["estimated_delta"] == pytest.approx(-node["attribution"], rel=1e-6)
    assert ablation["delta"] == pytest.approx(ablation["estimated_delta"], rel=0.5, abs=1e-2)  # first order


# ---- formats that cannot fit the tiny model: refused with a reason, before weights are read -----------------------
def test_transcoder_release_is_refused_by_its_hook(capsys, offline):
    code, out, err = run(capsys, "info", "--model", "gpt2", "--sae", f"{hub_cache.TRANSCODER}/layer_0")
    assert code == 2 and out == ""
    assert "reads hook 'blocks.0.mlp.hook_in', which model 'gpt2' does not have" in err, err


def test_gemma_scope_npz_loads_and_is_refused_on_another_model(capsys, offline, monkeypatch):
    hub_cache.add_gemma_scope(offline / "hub")
    from tracer_tui.engine import loading

    sae = loading.load_sae((hub_cache.GEMMA_SCOPE, hub_cache.GEMMA_SCOPE_ID, None), "cpu", "float32")
    assert sae.sae.cfg.architecture() == "jumprelu" and (sae.d_in, sae.d_sae) == (2304, 4096)
    assert sae.site == "hook_embed"

    def no_weights(*a, **k):
        raise AssertionError("weights loaded before the config check")

    monkeypatch.setattr(loading, "load_sae", no_weights)
    code, out, err = run(capsys, "info", "--model", "gpt2", "--sae", f"{hub_cache.GEMMA_SCOPE}/{hub_cache.GEMMA_SCOPE_ID}")
    assert code == 2, err
    assert "expects d_in=2304 at 'hook_embed', but the model's activation there has width 64" in err
    assert "belongs to another model (gemma-2-2b)" in err


def test_sae_missing_from_the_cache_fails_offline_with_the_cache_named(capsys, offline, monkeypatch):
    from tracer_tui.engine import loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    start = time.monotonic()
    code, out, err = run(capsys, "info", "--model", "gpt2", "--sae", f"{hub_cache.RES_JB}/blocks.5.hook_resid_pre")
    assert code == 2
    assert "could not load SAE gpt2-small-res-jb/blocks.5.hook_resid_pre: it is not in the Hugging Face cache" in err
    assert str(offline) in err, err
    assert time.monotonic() - start < 30


def test_every_sae_missing_from_the_cache_is_listed_before_the_model_loads(capsys, offline, monkeypatch):
    from tracer_tui.engine import loading

    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, out, err = run(capsys, "info", "--model", "gpt2", "--sae", hub_cache.RES_JB)  # 13 ids, 2 cached
    assert code == 2
    assert "could not load 11 SAEs (gpt2-small-res-jb/blocks.2.hook_resid_pre, " in err, err
    assert "gpt2-small-res-jb/blocks.11.hook_resid_post): they are not in the Hugging Face cache" in err
    assert "blocks.0.hook_resid_pre" not in err


def test_model_missing_from_the_cache_fails_offline(capsys, offline):
    code, out, err = run(capsys, "info", "--model", "pythia-70m", "--sae", RES0)
    assert code == 2
    assert "could not load model 'pythia-70m': it is not in the Hugging Face cache" in err, err


# ---- fail fast -----------------------------------------------------------------------------------------------------
def test_every_missing_id_is_listed_before_the_model_loads(capsys, offline, monkeypatch):
    from tracer_tui.engine import loading

    reads = []
    real_registry = loading._registry
    monkeypatch.setattr(loading, "_registry", lambda: reads.append(1) or real_registry())
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: pytest.fail("the model was loaded"))
    code, out, err = run(capsys, "info", "--model", "gpt2", "--sae", RES0, "--sae", f"{hub_cache.RES_JB}/blocks.3.nope",
                         "--sae", f"{hub_cache.RES_JB}/nope2", "--sae", "gpt2-small-res-jx/blocks.0.hook_resid_pre",
                         "--sae", f"{hub_cache.HOOK_Z}/blocks.99.hook_z")
    assert code == 2 and out == ""
    for missing in ("'blocks.3.nope'", "'nope2'", "'gpt2-small-res-jx'", "'blocks.99.hook_z'"):
        assert missing in err, err
    assert "unknown SAE ids 'blocks.3.nope', 'nope2' in release 'gpt2-small-res-jb'" in err
    assert "did you mean gpt2-small-res-jb" in err
    assert len(reads) == 1  # the registry is read once


def test_local_paths_never_read_the_registry(monkeypatch, bundle_dir):
    from tracer_tui.engine import hub, loading
    from tracer_tui.engine.tracer import Tracer

    monkeypatch.setattr(loading, "_registry", lambda: pytest.fail("registry read for a local path"))
    monkeypatch.setattr(hub, "probe", lambda *a, **k: pytest.fail("network probed for a local path"))
    tracer = Tracer.load(model=str(bundle_dir), device="cpu")
    assert len(tracer.saes) == 3


# ---- going offline fast ---------------------------------------------------------------------------------------------
def test_unreachable_hub_switches_the_process_offline_and_says_so_once(capsys, monkeypatch, hf_home):
    from huggingface_hub import constants

    from tracer_tui.engine import hub

    _point_at(monkeypatch, hf_home, offline=False)
    probes = []
    monkeypatch.setattr(hub, "probe", lambda timeout=hub.PROBE_TIMEOUT_S: probes.append(timeout) or "no answer")
    start = time.monotonic()
    code, out, err = run(capsys, "info", "--json", "--model", "gpt2", "--sae", RES0)
    code2, _, err2 = run(capsys, "info", "--json", "--model", "gpt2", "--sae", RES1)
    assert code == 0 and code2 == 0, err + err2
    assert time.monotonic() - start < 60
    assert probes == [hub.PROBE_TIMEOUT_S] and hub.PROBE_TIMEOUT_S <= 2
    assert err.count("cannot be reached") == 1 and "no answer" in err and str(hf_home) in err
    assert "cannot be reached" not in err2  # once per process
    assert constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == "1"


def test_offline_notice_goes_to_the_progress_text_when_there_is_one(monkeypatch, hf_home):
    from tracer_tui.engine import hub
    from tracer_tui.engine.tracer import Tracer

    _point_at(monkeypatch, hf_home, offline=False)
    monkeypatch.setattr(hub, "probe", lambda timeout=hub.PROBE_TIMEOUT_S: "no route")
    steps = []
    Tracer.load(model="gpt2", saes=[RES0], device="cpu", progress=lambda step, frac: steps.append(step))
    notices = [s for s in steps if s.startswith("offline:")]
    assert len(notices) == 1 and "cannot be reached (no route)" in notices[0]


def test_reachable_hub_or_user_offline_is_left_alone(monkeypatch, hf_home):
    from huggingface_hub import constants

    from tracer_tui.engine import hub

    _point_at(monkeypatch, hf_home, offline=False)
    monkeypatch.setattr(hub, "probe", lambda timeout=hub.PROBE_TIMEOUT_S: None)
    said = []
    assert hub.ensure_reachable(said.append) is True and not said and constants.HF_HUB_OFFLINE is False
    _point_at(monkeypatch, hf_home, offline=True)
    monkeypatch.setattr(hub, "probe", lambda *a, **k: pytest.fail("probed although HF_HUB_OFFLINE is set"))
    assert hub.ensure_reachable(said.append) is True and not said


def test_probe_gives_up_within_its_timeout(monkeypatch):
    import socket

    from tracer_tui.engine import hub

    seen = {}

    def connect(address, timeout=None):
        seen.update(address=address, timeout=timeout)
        raise TimeoutError()

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert "no answer from huggingface.co" in hub.probe()
    assert seen == {"address": ("huggingface.co", 443), "timeout": hub.PROBE_TIMEOUT_S}
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    assert hub.probe_target() == ("proxy.local", 3128)


# ---- a fresh process, as a user runs it: no progress bars, and how long it takes ---------------------------------------
def test_cli_process_on_the_cached_model_prints_no_progress_bars(hf_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "TQDM_"))}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               OMP_NUM_THREADS="1")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tracer_tui.cli", "trace", PROMPT, "--model", "gpt2", "--sae", RES0,
                           "--sae", HOOKZ1, "--device", "cpu", "--top", "3"], env=env, capture_output=True, text=True,
                          timeout=300)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "attribution" in proc.stdout
    no_bars(proc.stderr)
    assert proc.stderr.strip() == "", proc.stderr
    print(f"\nfresh process: load + trace of the tiny hub-cache gpt2 in {elapsed:.1f} s")
