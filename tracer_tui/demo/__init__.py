"""The bundled demo model and SAEs: build tooling only (``python -m tracer_tui.demo.build``).

Belongs here: the demo corpus, training, labelling, measuring and the model card. It writes the bundle through
``engine.bundle``; the shipped ``bundle/`` folder is data that the engine reads like any other bundle. The
runtime (engine, CLI, TUI) needs nothing here except ``bundle_dir()``.
"""

from __future__ import annotations

from pathlib import Path


def bundle_dir() -> Path:
    """Directory of the bundled demo bundle (package data, works from wheels and editable installs)."""
    return Path(__file__).resolve().parent / "bundle"
