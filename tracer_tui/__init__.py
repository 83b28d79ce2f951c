"""tracer-tui: which concepts inside a language model made it produce this token?

    import tracer_tui
    tracer = tracer_tui.load()          # the bundled demo model and SAEs
    t = tracer.trace("The Eiffel Tower is in the city of")
"""

from __future__ import annotations

__version__ = "0.1.0"


def load(model: str | None = None, saes=(), device: str = "auto", dtype: str = "float32", progress=None):
    """Load a model (TransformerLens name or bundle dir; None = bundled demo) and SAEs; returns a Tracer."""
    from .engine.tracer import Tracer

    return Tracer.load(model=model, saes=saes, device=device, dtype=dtype, progress=progress)
