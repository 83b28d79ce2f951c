"""Fixtures shared by every test: the tiny seeded tracer, the demo, a bundle on disk (factories: helpers.py)."""

from __future__ import annotations

import pytest
from helpers import SITES, make_model, make_sae, make_tracer


@pytest.fixture(scope="session")
def tracer():
    return make_tracer()


@pytest.fixture(scope="session")
def tracer64():
    import torch

    return make_tracer(dtype=torch.float64)


@pytest.fixture(scope="module")
def demo():
    """The bundled demo model and SAEs; one torch thread while a module uses it (tiny matmuls: no wake-up costs
    on shared cores)."""
    import torch

    from tracer_tui.engine.tracer import Tracer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Tracer.load()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory):
    """A full bundle on disk (model/ + saes/) built from the tiny seeded model, for CLI and loader tests."""
    from tracer_tui.engine.bundle import save_model_dir

    root = tmp_path_factory.mktemp("bundle")
    model = make_model(seed=3)
    save_model_dir(model, root / "model")
    for i, site in enumerate(SITES):
        sae = make_sae(site, model.cfg.d_model, seed=3 + i, model_name=model.cfg.model_name)
        sae.save_model(root / "saes" / site)
    return root
