"""The bundled demo model and SAEs (built by ``python -m tracer_tui.demo.build``)."""

from __future__ import annotations

from ..core.shipped import demo_bundle_dir as bundle_dir

__all__ = ["bundle_dir"]
