"""The bundled demo model and SAEs (built by ``python -m tracer_tui.demo.build``)."""

from __future__ import annotations

from pathlib import Path


def bundle_dir() -> Path:
    """Directory of the bundled demo bundle (package data, works from wheels and editable installs)."""
    return Path(__file__).resolve().parent / "bundle"
