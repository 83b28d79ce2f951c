"""Torch-free foundations that every layer imports: the engine, the CLI and the TUI.

Belongs here: ``errors`` (TracerError with a machine-readable hint that each front end words itself),
``nodes`` (node ids and the plain records the engine returns), ``defaults`` (metrics, modes, sampling and
steering defaults and their checks: defined once), ``session`` (the session file), ``paths`` (where user files
live), ``shipped`` (folders shipped with the package, the demo bundle among them) and ``prompts`` (the
``sample_prompts/*.toml`` reader). Nothing here imports torch, TransformerLens, SAE-Lens or Textual.
"""
