"""The Textual terminal UI. Nothing heavy is imported here: ``run_tui`` lives in ``launch``."""
