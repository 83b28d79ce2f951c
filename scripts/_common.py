"""Shared by the reliability scripts: the test suite's tiny seeded model, a scratch home, and memory readings."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LONG_PROMPT = ("The Eiffel Tower is in the city of Paris. The Colosseum is in the city of Rome. "
               "When Mary and John went to the park, John")


def use_test_helpers() -> None:
    """Make tests/helpers.py and tests/tui/pilot.py importable (the tiny model and the Pilot helpers)."""
    for folder in (ROOT / "tests", ROOT / "tests" / "tui"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


def scratch_home() -> None:
    """Keep sessions, logs and user config out of the real home directory."""
    for var in ("TRACER_TUI_DATA_DIR", "TRACER_TUI_CONFIG_DIR"):
        os.environ.setdefault(var, tempfile.mkdtemp(prefix="tracer-tui-script-"))


def tiny_tracer(seed: int = 0):
    use_test_helpers()
    from helpers import make_tracer

    return make_tracer(seed=seed)


def tiny_app(tracer, **options):
    from tracer_tui.tui.app import TracerApp
    from tracer_tui.tui.options import Options

    scratch_home()
    options.setdefault("page_rows", 10)  # the scripts count on pages of 10, whatever the test terminal's height
    return TracerApp(Options(show_timings=False, **options), tracer_factory=lambda progress: tracer)


def rss_mb() -> float:
    """Resident set size now (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
