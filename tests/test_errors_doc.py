"""docs/errors.md names real tests: every `file::function` in its tables exists, and the README links the page."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"


def _named_tests() -> list[tuple[str, str]]:
    names = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("| row") or line.startswith("|---"):
            continue
        current = None
        for ref in re.findall(r"`([\w.]*::\w+)", line.split(" | ")[-1]):
            file, _, func = ref.partition("::")
            current = file or current  # `::other_test` continues the previous file
            names.append((current, func))
    return names


def test_every_test_named_in_the_catalogue_exists():
    names = _named_tests()
    assert len(names) > 60
    files = {p.name: p for p in (ROOT / "tests").rglob("test_*.py")}  # names are unique across tests/ and tests/tui/
    missing = [f"{file}::{func}" for file, func in names
               if file not in files or not re.search(rf"^(async )?def {func}\(", files[file].read_text(), re.M)]
    assert not missing


def test_readme_links_the_catalogue():
    assert "(docs/errors.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
