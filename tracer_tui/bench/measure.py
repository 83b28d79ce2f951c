"""Timings (medians after a warm-up) and peak memory for each piece of the engine's work."""

from __future__ import annotations

import statistics
import threading
import time


def median_time(fn, repeat: int, sync) -> float:
    fn()  # warm-up
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _glibc_returns_freed_memory() -> None:
    """Make glibc give freed tensors back to the OS at once, so resident memory follows allocations.

    By default glibc keeps freed heap memory (and raises its mmap threshold after large frees), which would
    hide a trace's peak under memory left over from earlier work.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: fixed, so large blocks are always mmapped
        libc.malloc_trim(0)


class PeakRSS:
    """Peak resident memory above the starting point, sampled by a thread (CPU runs)."""

    def __init__(self, interval: float = 0.002):
        import psutil

        _glibc_returns_freed_memory()
        self._proc = psutil.Process()
        self._interval = interval
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def extra(self) -> int:
        return self.peak - self.start


def trace_peak_memory(tracer, tokens, device) -> int:
    """Bytes the trace needs on top of the loaded weights (peak allocation during one trace)."""
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        trace = tracer.trace(tokens)
        torch.cuda.synchronize()
        extra = torch.cuda.max_memory_allocated() - base
    else:
        with PeakRSS() as rss:
            trace = tracer.trace(tokens)
        extra = rss.extra
    del trace
    gc.collect()
    return extra
