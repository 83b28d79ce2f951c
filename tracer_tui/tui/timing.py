"""Start-up timing: time to first paint, measured from launch and (on Linux) from process start."""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("tracer_tui.tui")


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


class Timing:
    def __init__(self, launch: float | None = None):
        self.launch = launch if launch is not None else time.perf_counter()
        age = process_age()
        self.process_start = self.launch - age if age is not None else None
        self.first_paint: float | None = None
        self.model_loaded: float | None = None

    def mark_first_paint(self) -> None:
        if self.first_paint is None:
            self.first_paint = time.perf_counter()
            log.info("first paint %.3f s after launch", self.first_paint - self.launch)

    def mark_loaded(self) -> None:
        self.model_loaded = time.perf_counter()
        log.info("model ready %.3f s after launch", self.model_loaded - self.launch)

    def report(self) -> str:
        parts = []
        if self.first_paint is not None:
            parts.append(f"first paint {self.first_paint - self.launch:.3f} s after launch")
            if self.process_start is not None:
                parts.append(f"{self.first_paint - self.process_start:.3f} s after process start")
        else:
            parts.append("no paint recorded")
        if self.model_loaded is not None:
            parts.append(f"model ready {self.model_loaded - self.launch:.2f} s after launch")
        return "timing: " + ", ".join(parts)
