"""Latent density: read from SAE-Lens's sparsity.safetensors (log10 firing rate), None when an SAE has none,
and the demo bundle's stored densities agree with densities measured here on fresh demo corpus text."""

from __future__ import annotations

import json

import pytest
from helpers import make_sae

from tracer_tui.core.defaults import DENSE_THRESHOLD
from tracer_tui.demo import bundle_dir

SITE = "blocks.0.hook_resid_pre"


def _load(path):
    import torch

    from tracer_tui.engine.loading import load_sae

    return load_sae((str(path), None, path), torch.device("cpu"), torch.float32)


def test_file_name_and_tensor_are_sae_lens_s():
    from sae_lens.constants import SPARSITY_FILENAME

    from tracer_tui.engine import density

    assert density.SPARSITY_FILENAME == SPARSITY_FILENAME
    assert density.SPARSITY_TENSOR == "sparsity"  # what SAE-Lens's Hugging Face loader reads


def test_density_from_a_registry_style_sparsity_file(tmp_path):
    import safetensors.torch
    import torch

    sae = make_sae(SITE, 16, d_sae=8)
    sae.save_model(tmp_path)
    log10 = torch.tensor([-0.1, -0.5, -1.0, -2.0, -3.5, -6.0, -10.0, 0.0])
    safetensors.torch.save_file({"sparsity": log10}, str(tmp_path / "sparsity.safetensors"))
    s = _load(tmp_path)
    for i, v in enumerate(log10.tolist()):
        assert s.density(i) == pytest.approx(10 ** v, rel=1e-6)
    assert [s.is_dense(i) for i in range(8)] == [10 ** v > DENSE_THRESHOLD for v in log10.tolist()]
    assert s.density(None) is None and s.density(8) is None


def test_no_sparsity_file_means_unknown(tmp_path):
    sae = make_sae(SITE, 16, d_sae=8)
    sae.save_model(tmp_path)
    s = _load(tmp_path)
    assert s.density(0) is None and s.is_dense(0) is None and not s.densities.known


def test_a_file_for_another_width_is_not_used(tmp_path):
    import safetensors.torch
    import torch

    make_sae(SITE, 16, d_sae=8).save_model(tmp_path)
    safetensors.torch.save_file({"sparsity": torch.zeros(5)}, str(tmp_path / "sparsity.safetensors"))
    assert _load(tmp_path).density(0) is None


def test_write_then_read_round_trips_and_matches_sae_lens_encoding(tmp_path):
    import torch

    from tracer_tui.engine.density import read_log_sparsity, write_log_sparsity

    d = torch.tensor([0.5, 0.01, 0.0, 1.0])
    write_log_sparsity(tmp_path, d)
    log = read_log_sparsity(tmp_path)
    assert torch.allclose(log, torch.log10(d + 1e-10))  # SAE-Lens's _log_feature_sparsity encoding
    assert read_log_sparsity(tmp_path / "nowhere") is None


def test_measure_density_counts_active_tokens():
    import torch

    from tracer_tui.engine.density import measure_density

    sae = make_sae(SITE, 16, d_sae=8)
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(measure_density(sae, x, batch=64), (sae.encode(x) > 0).float().mean(0))


def test_registry_sae_density_comes_from_sae_lens(monkeypatch):
    """A registry SAE's log sparsity is what SAE.from_pretrained_with_cfg_and_sparsity returns (no download)."""
    import torch
    from sae_lens import SAE

    from tracer_tui.engine import loading

    release = "gpt2-small-res-jb"
    sae_id = next(iter(loading._registry()[release].saes_map))
    log10 = torch.linspace(-4, -0.2, 8)

    def fake(cls, rel, sid, device="cpu", dtype="float32", **kw):
        assert (rel, sid) == (release, sae_id)
        return make_sae(SITE, 16, d_sae=8), {}, log10

    monkeypatch.setattr(SAE, "from_pretrained_with_cfg_and_sparsity", classmethod(fake))
    s = loading.load_sae((release, sae_id, None), torch.device("cpu"), torch.float32)
    assert s.density(7) == pytest.approx(10 ** -0.2, rel=1e-6) and s.is_dense(7)

    monkeypatch.setattr(SAE, "from_pretrained_with_cfg_and_sparsity",
                        classmethod(lambda cls, *a, **k: (make_sae(SITE, 16, d_sae=8), {}, None)))
    assert loading.load_sae((release, sae_id, None), torch.device("cpu"), torch.float32).density(0) is None


# ---- the demo bundle -------------------------------------------------------------------------------------
needs_bundle = pytest.mark.skipif(not (bundle_dir() / "model" / "config.json").is_file(), reason="no demo bundle")


@pytest.fixture(scope="module")
def demo_saes():
    import torch

    from tracer_tui.engine.loading import expand_sae_specs, load_sae

    return [load_sae(e, torch.device("cpu"), torch.float32) for e in expand_sae_specs([str(bundle_dir())])]


@needs_bundle
def test_demo_bundle_ships_densities(demo_saes):
    metrics = json.loads((bundle_dir() / "metrics.json").read_text())
    for s in demo_saes:
        assert (bundle_dir() / "saes" / s.site / "sparsity.safetensors").is_file()
        d = [s.density(i) for i in range(s.d_sae)]
        assert all(x is not None and 0 <= x <= 1 for x in d), s.site
        assert sum(s.is_dense(i) for i in range(s.d_sae)) == metrics["saes"][s.site]["n_dense"]
    assert demo_saes[0].density(633) > 0.3  # the latent that fires on almost everything in layer 0


@needs_bundle
def test_demo_densities_agree_with_fresh_corpus_text(demo_saes):
    """Measured independently here: a fresh sample of the demo corpus (another seed), run through the shipped
    model and SAEs. The densest latents are dense here too and densities correlate across latents."""
    import torch

    from tracer_tui.engine.bundle import MODEL_DIR, load_model_dir
    from tracer_tui.demo.corpus import generate_corpus
    from tracer_tui.demo.tokenizer import EOT
    from tracer_tui.demo.train_model import pack_rows

    model = load_model_dir(bundle_dir() / MODEL_DIR)
    docs = generate_corpus(400, seed=12345)
    rows, _ = pack_rows(docs, model.tokenizer, model.cfg.n_ctx, model.tokenizer.convert_tokens_to_ids(EOT))
    rows = rows[:24]
    with torch.no_grad():
        _, cache = model.run_with_cache(rows, names_filter=lambda n: n in {s.site for s in demo_saes})
    for s in demo_saes:
        acts = cache[s.site].reshape(-1, s.d_in)
        fresh = (s.encode(acts) > 0).float().mean(0)
        stored = torch.tensor([s.density(i) for i in range(s.d_sae)])
        top = stored.topk(5).indices
        assert (fresh[top] > 0.5 * stored[top]).all() and (fresh[top] > 0.05).all(), (s.site, fresh[top], stored[top])
        rare = stored < 2e-3
        if rare.any():
            assert fresh[rare].mean() < 0.01, s.site
        # log-density correlation across latents the sample can resolve
        m = (stored > 1e-3) & (fresh > 0)
        a, b = stored[m].log10(), fresh[m].log10()
        r = float(((a - a.mean()) * (b - b.mean())).sum() / ((a - a.mean()).norm() * (b - b.mean()).norm()))
        assert r > 0.7, (s.site, r)
