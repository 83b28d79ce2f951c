"""scripts/load_tree.py and scripts/soak.py run end to end at a tiny scale. Correctness only: the timings they
print are recorded in docs/reliability.md, never asserted here."""

from __future__ import annotations

import math
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import load_tree  # noqa: E402
import soak  # noqa: E402


async def test_load_tree_builds_the_rows_and_times_cursor_moves():
    r = await load_tree.build_and_measure(rows=300, moves=8)
    assert r["rows"] >= 300 and r["expanded_parents"] > 0 and r["moves"] == 8
    for key in ("median_ms", "p95_ms", "max_ms", "collapse_ms", "reopen_ms", "refresh_rows_ms"):
        assert math.isfinite(r[key]) and r[key] >= 0, key  # every key press led to a repaint


async def test_soak_leaves_one_trace_and_no_workers():
    r = await soak.soak(rounds=4, warmup=2)
    assert r["n_failures"] == 0, r["failures"]
    assert r["live_traces"] == 1 and r["workers_left"] == 0  # old traces (and their graphs) are freed
    assert r["rss_start_mb"] > 0 and r["rss_end_mb"] > 0
