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


def test_the_engine_neither_imports_the_demo_build_nor_names_cli_flags():
    """The engine reads bundles itself (engine/bundle.py) and leaves wording remedies to the front ends: its
    messages carry a Hint, never a flag such as --foil (docstrings may still mention the CLI)."""
    import ast
    import re
    from pathlib import Path

    import tracer_tui.engine as engine

    found = []
    for path in sorted(Path(engine.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and "demo" in (node.module or "").split("."):
                found.append(f"{path.name}:{node.lineno} imports {node.module}")
            if isinstance(node, ast.Import) and any("tracer_tui.demo" in a.name for a in node.names):
                found.append(f"{path.name}:{node.lineno} imports the demo")
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and re.search(r"(^|\s)--[a-z]", node.value)):
                found.append(f"{path.name}:{node.lineno} names a flag: {node.value!r}")
    assert found == []
