"""TUI test fixtures. ``tui_dirs`` is autouse here, so no TUI test can write into the real home folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def tui_dirs(tmp_path, monkeypatch):
    """Keep sessions, logs and user themes out of the real home directory."""
    monkeypatch.setenv("TRACER_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRACER_TUI_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_tracer(bundle_dir):
    """The tiny seeded bundle, loaded once for the whole test session through the real loader."""
    from tracer_tui.engine.tracer import Tracer

    return Tracer.load(model=str(bundle_dir))
