"""The tracer-tui engine: SAE latent attribution, expansion, ablation and verification.

Belongs here: everything that needs torch, TransformerLens or SAE-Lens: loading models and SAEs (``loading``,
``bundle``: the only bundle reader and writer), the forward pass (``forward``, ``model_adapter``, ``sae_site``),
attribution and its levels (``attribution``, ``trace``, ``tracer``), ablation, contrast, steering, sampling,
means and graphs. Plain records and errors come from ``tracer_tui.core``. Never imports Textual (a test
enforces it) and never the demo build tooling. Names are exported lazily so ``import tracer_tui.engine`` is cheap
and torch loads only when something is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Tracer": ".tracer", "Trace": ".trace", "TracerError": "..core.errors", "Cancelled": "..core.errors",
    "NodeId": "..core.nodes", "Node": "..core.nodes", "Intervention": "..core.nodes", "AblationResult": "..core.nodes",
    "VerifyResult": "..core.nodes", "TARGET": "..core.nodes", "METRICS": "..core.defaults",
    "export_graph": ".graph", "load_graph": ".graph", "trace_to_json": ".serialize",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
