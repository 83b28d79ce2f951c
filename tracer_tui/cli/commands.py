"""Subcommands of the ``tracer-tui`` CLI, one module each. Each has ``add_parser(sub)``, which sets ``run``."""

from __future__ import annotations

import importlib

# Order is the order in --help.
NAMES = ("trace", "contrast", "steer", "info", "bench")


def add_all(sub) -> None:
    for name in NAMES:
        importlib.import_module(f".{name}", __package__).add_parser(sub)
