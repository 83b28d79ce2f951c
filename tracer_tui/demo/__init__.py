"""The bundled demo model and SAEs: build tooling only (``python -m tracer_tui.demo.build``).

Belongs here: the demo corpus, training, labelling, measuring and the model card. It writes the bundle through
``engine.bundle``; the shipped ``bundle/`` folder is data that the engine reads like any other bundle. The
runtime (engine, CLI, TUI) needs nothing here except ``bundle_dir()``.
"""

from __future__ import annotations

from ..core.shipped import demo_bundle_dir as bundle_dir

__all__ = ["bundle_dir"]
