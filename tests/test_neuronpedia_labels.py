"""Labels for real SAEs from Neuronpedia: explanation exports (--labels FILE) and the API fetch with its disk cache,
against a local HTTP server (never the network)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import SITES, make_model, make_sae
import test_hub_cache
from test_hub_cache import RES0, RES1, _point_at

from tracer_tui.core.errors import TracerError
from tracer_tui.engine import neuronpedia
from tracer_tui.engine.sae_site import LatentInfo, SiteSAE

NP_ID = "gpt2-small/8-res-jb"


def _sae(neuronpedia_id=NP_ID, labels=None):
    model = make_model()
    return SiteSAE(make_sae(SITES[0], model.cfg.d_model), site=SITES[0], source="tiny",
                   neuronpedia_id=neuronpedia_id, labels=labels)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A Neuronpedia-shaped API on 127.0.0.1 (a free port) counting requests; data dir and offline mode isolated."""
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            index = self.path.rsplit("/", 1)[-1]
            body = json.dumps({"modelId": "gpt2-small", "layer": "8-res-jb", "index": index,
                               "explanations": [{"description": f"latent {index} label"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv(neuronpedia.URL_ENV, f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setenv("TRACER_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(neuronpedia, "_failed", set())
    monkeypatch.setattr(neuronpedia, "_unreachable", [])
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # another test may have switched this process offline
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    yield requests
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_fetch_fills_labels_and_caches_them(server, tmp_path):
    sae = _sae()
    got = neuronpedia.fetch_labels([sae], [f"{SITES[0]}:5@2", f"{SITES[0]}:error@2", "blocks.9.hook_x:1@0"],
                                   timeout=5)
    assert got == {f"{SITES[0]}:5@2": "latent 5 label"}
    assert sae.labels[5].label == "latent 5 label"
    assert server == ["/api/feature/gpt2-small/8-res-jb/5"]
    cache = tmp_path / "data" / "neuronpedia" / "gpt2-small" / "8-res-jb" / "5.json"
    assert json.loads(cache.read_text()) == {"description": "latent 5 label"}
    # A fresh SAE (new process, same cache): read from disk, no second request.
    fresh = _sae()
    assert neuronpedia.fetch_labels([fresh], [f"{SITES[0]}:5@0"]) == {f"{SITES[0]}:5@0": "latent 5 label"}
    assert len(server) == 1


def test_offline_or_no_neuronpedia_id_never_asks(server, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert neuronpedia.fetch_labels([_sae()], [f"{SITES[0]}:7@1"]) == {}
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert neuronpedia.fetch_labels([_sae(neuronpedia_id=None)], [f"{SITES[0]}:7@1"]) == {}
    assert server == []


def test_tracer_fetch_labels(server):
    from tracer_tui.engine import Tracer

    sae = _sae(labels={3: LatentInfo(label="shipped")})
    tracer = Tracer(Tracer.from_models(make_model(), [make_sae(SITES[0], 16)]).adapter, [sae])
    got = tracer.fetch_labels([f"{SITES[0]}:3@1", f"{SITES[0]}:4@1"], timeout=5)
    assert got == {f"{SITES[0]}:3@1": "shipped", f"{SITES[0]}:4@1": "latent 4 label"}  # shipped label kept
    assert server == ["/api/feature/gpt2-small/8-res-jb/4"]


def _closed_port() -> int:
    """A local port with nothing listening: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_neuronpedia_is_asked_once_per_process(monkeypatch, tmp_path):
    monkeypatch.setenv(neuronpedia.URL_ENV, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("TRACER_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(neuronpedia, "_failed", set())
    monkeypatch.setattr(neuronpedia, "_unreachable", [])
    asked = []
    real = neuronpedia.urllib.request.urlopen
    monkeypatch.setattr(neuronpedia.urllib.request, "urlopen", lambda *a, **k: asked.append(a[0]) or real(*a, **k))
    sae = _sae()
    assert neuronpedia.fetch_labels([sae], [f"{SITES[0]}:{i}@0" for i in range(5)], timeout=2) == {}
    assert len(asked) == 1 and neuronpedia._unreachable


# ---- the CLI's trace, online, on a registry SAE (the synthetic hub cache of test_hub_cache) -------------------------
hf_home = test_hub_cache.hf_home  # the cache fixture, shared


@pytest.fixture
def online_hub(server, monkeypatch, hf_home):
    """``gpt2`` + registry SAEs from the synthetic cache, Neuronpedia on the local server, and tracer-tui "online"
    (``hub.is_offline`` False). huggingface_hub itself stays in offline mode and reads the cache: there is no
    network here, and online it would retry the real hub for minutes."""
    from tracer_tui.engine import hub

    _point_at(monkeypatch, hf_home, offline=True)
    monkeypatch.setattr(hub, "is_offline", lambda: False)
    monkeypatch.setattr(hub, "probe", lambda *a, **k: None)
    return server


def _cli_trace(capsys, *extra):
    from tracer_tui.cli import main

    code = main(["trace", "The Eiffel Tower is in the city of", "--model", "gpt2", "--sae", RES0, "--sae", RES1, "--top", "8",
                 "--json", "--device", "cpu", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)["nodes"]


def test_cli_trace_online_labels_each_latent_from_neuronpedia_once(online_hub, capsys):
    nodes = _cli_trace(capsys)
    latents = [n for n in nodes if n["kind"] == "latent"]
    assert latents
    for n in latents:
        assert n["label"] == f"latent {n['latent']} label", n
    assert [n["label"] for n in nodes if n["kind"] == "error"] == [None] * (len(nodes) - len(latents))
    assert sorted(online_hub) == sorted({f"/api/feature/gpt2-small/{n['layer']}-res-jb/{n['latent']}" for n in latents})
    asked = len(online_hub)
    # Again, in a "new process" (the SAE reloaded): every label from the disk cache, no request.
    assert [n["label"] for n in _cli_trace(capsys)] == [n["label"] for n in nodes]
    assert len(online_hub) == asked


def test_cli_trace_offline_never_asks_neuronpedia(server, capsys, monkeypatch, hf_home):
    _point_at(monkeypatch, hf_home, offline=True)
    nodes = _cli_trace(capsys)
    assert nodes and all(n["label"] is None for n in nodes)
    assert server == []


def _export(tmp_path, entries, name="export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(entries))
    return path


def test_export_file_labels_matching_sae(tmp_path):
    sae = _sae(labels={1: LatentInfo(label="shipped", snippets=["s"]), 2: LatentInfo(label="kept")})
    path = _export(tmp_path, [
        {"modelId": "gpt2-small", "layer": "8-res-jb", "index": "1", "description": "from file",
         "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair"},
        {"modelId": "gpt2-small", "layer": "8-res-jb", "index": 6, "description": "six"},
        {"modelId": "gpt2-small", "layer": "9-res-jb", "index": 6, "description": "other SAE"},
    ])
    other = _export(tmp_path, {"explanations": [{"modelId": "gemma-2-2b", "layer": "0-x", "index": 0,
                                                 "description": "x"}]}, "other.json")
    warnings = neuronpedia.apply_exports(neuronpedia.read_exports([path, other]), [sae])
    assert sae.labels[1] == LatentInfo(label="from file", snippets=["s"])
    assert sae.labels[2].label == "kept" and sae.labels[6].label == "six"
    assert len(warnings) == 1 and "other.json" in warnings[0] and "matches no loaded SAE" in warnings[0]


@pytest.mark.parametrize("content, field", [
    ('[{"modelId": "gpt2-small", "layer": "8-res-jb", "index": "x1", "description": "d"}]', "'[0].index'"),
    ('[{"modelId": "gpt2-small", "index": 1, "description": "d"}]', "'[0].layer' is missing"),
    ('{"modelId": "gpt2-small"}', "must be a list of explanations"),
    ('[{"modelId": "gpt2', "not valid JSON"),
])
def test_malformed_export_is_one_line(tmp_path, content, field):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(TracerError) as err:
        neuronpedia.read_exports([path])
    message = str(err.value)
    assert "\n" not in message and str(path) in message and field in message


def test_load_with_labels(bundle_dir, tmp_path):
    from tracer_tui.engine import Tracer

    bad = tmp_path / "bad.json"
    bad.write_text('[{"modelId": 3}]')
    with pytest.raises(TracerError, match="field '\\[0\\].modelId' must be a non-empty string"):
        Tracer.load(model=str(bundle_dir), labels=[bad])
    unmatched = _export(tmp_path, [{"modelId": "gpt2-small", "layer": "8-res-jb", "index": 0, "description": "d"}])
    tracer = Tracer.load(model=str(bundle_dir), labels=[unmatched])
    assert [w for w in tracer.warnings if "matches no loaded SAE" in w] == [
        f"labels file {str(unmatched)!r} matches no loaded SAE (loaded Neuronpedia ids: none)"]
