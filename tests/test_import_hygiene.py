"""Import hygiene, checked in fresh interpreters: the engine never loads Textual (it must work in a notebook),
and the CLI and UI modules never load the ML stack (the screen paints and --help answers before torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest

ML = ("torch", "transformer_lens", "sae_lens", "transformers")
ALL_ENGINE = ("import importlib, pkgutil, tracer_tui.engine as e\n"
              "for m in pkgutil.iter_modules(e.__path__): importlib.import_module(f'tracer_tui.engine.{m.name}')\n"
              "import tracer_tui.core.errors, tracer_tui.core.session")


def loaded_after(code: str, modules) -> list[str]:
    probe = f"{code}\nimport sys\nprint(sorted(m for m in {tuple(modules)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return eval(out.strip().splitlines()[-1])


@pytest.mark.parametrize("code,forbidden", [
    (ALL_ENGINE, ("textual",)),
    ("import tracer_tui.cli; tracer_tui.cli.build_parser()", ML),
    ("import tracer_tui.tui.app, tracer_tui.tui.launch, tracer_tui.core.session", ML),
], ids=["engine-without-textual", "cli-without-ml", "tui-without-ml"])
def test_import_hygiene(code, forbidden):
    assert loaded_after(code, forbidden) == []


def test_the_probe_can_fail():
    assert loaded_after("import textual.app", ("textual",)) == ["textual"]
