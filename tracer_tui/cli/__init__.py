"""The command line: ``tracer-tui`` with no command opens the TUI; each subcommand is one module here.

Belongs here: argument parsing, one module per command (``trace``, ``contrast``, ``steer``, ``info``,
``bench``), and ``render`` (all plain-text output and the CLI's wording of errors). Nothing heavy is imported at
module level, so ``tracer-tui --help`` answers at once.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
