"""Folders shipped with tracer-tui (themes/, sample_prompts/): inside the package in a wheel install
(force-included by pyproject.toml), beside it in a checkout or editable install."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # tracer_tui/


def demo_bundle_dir() -> Path:
    """The bundled demo bundle (package data: works from wheels and editable installs)."""
    return _PACKAGE / "demo" / "bundle"


def shipped_dir(name: str) -> Path:
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parent / name
