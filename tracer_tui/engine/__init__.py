"""The tracer-tui engine: SAE latent attribution, expansion, ablation and verification.

Never imports Textual (a test enforces it). Names are exported lazily so ``import tracer_tui.engine`` is cheap
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
