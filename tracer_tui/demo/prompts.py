"""Moved to ``tracer_tui.core.prompts`` (the engine and the TUI read sample prompts too); this name stays for
imports written before the move."""

from ..core.prompts import SamplePrompt, load_sample_prompt, load_sample_prompts

__all__ = ["SamplePrompt", "load_sample_prompt", "load_sample_prompts"]
