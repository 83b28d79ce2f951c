"""The 80×24 tmux acceptance script (scripts/tmux_80x24.py): the real app on the demo model in a real terminal,
each step's screen checked for its full number or message. Skipped where tmux is not installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "tmux_80x24.py"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_every_step_at_80x24_shows_its_numbers():
    done = subprocess.run([sys.executable, str(SCRIPT), "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "ALL PASS" in done.stdout and "FAIL" not in done.stdout
