"""The bench runs end to end on a tiny configuration (timings are the bench's job, not the tests')."""

from __future__ import annotations

import json

from tracer_tui.cli import main


def test_bench_tiny_reports_every_figure(capsys):
    assert main(["bench", "--tiny", "--repeat", "1", "--tokens", "12", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["seconds"]) == {"naive", "model", "encode", "trace", "expand1", "expand16", "ablate6", "forward"}
    assert all(v > 0 for v in data["seconds"].values())
    assert set(data["ratios"]) == {"naive/trace", "trace/(model+encode)", "expand16/expand1", "ablate6/forward"}
    assert data["ratios"]["naive/trace"] == data["seconds"]["naive"] / data["seconds"]["trace"]
    assert set(data["memory_bytes"]) == {"trace_12", "trace_128", "weights"}
    assert data["memory_bytes"]["weights"] > 0
    assert data["device"] == "cpu" and data["threads"] >= 1 and data["torch"]


def test_bench_sae_sparsity_is_calibrated():
    import torch

    from tracer_tui.bench.gpt2_shape import TINY, build

    setup = build(TINY, torch.device("cpu"), torch.float32, calib_tokens=128)
    tokens = torch.randint(0, TINY["d_vocab"], (1, 128), generator=torch.Generator().manual_seed(7))
    _, cache = setup.model.run_with_cache(tokens, names_filter=[s.cfg.metadata.hook_name for s in setup.saes])
    for sae in setup.saes:
        l0 = (sae.encode(cache[sae.cfg.metadata.hook_name][0, 1:]) > 0).sum(-1).float().mean().item()
        assert TINY["l0"] / 3 < l0 < TINY["l0"] * 3
