"""Leaving within a bound: a hang-up, SIGTERM or quit ends the process even when a worker thread is stuck in the
engine, a worker holds the engine lock, keys are still queued, or Textual's own shutdown blocks on a terminal
that is gone (its output thread dies on the hung-up terminal and ``driver.close`` then waits on its full queue
forever: reproduced with ``scripts/hangup_race.py``).

The ``Closer`` is a thread started with the app that waits for a reason to close. It never needs the event loop:
it saves the session itself (time-boxed), asks the app to exit, and when the app owns the process it ends the
process at ``EXIT_BOUND_S`` whatever is still running.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger("tracer_tui.tui")

EXIT_BOUND_S = 3.0  # close requested -> process gone, whatever is stuck
SAVE_BOUND_S = 1.5  # the session save's share of it (engine lock wait + write)


def flush_logs() -> None:
    for stream in [*(h for h in logging.getLogger("tracer_tui").handlers), sys.stdout, sys.stderr]:
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed or hung-up stream: nothing more can be said there
            pass


def leave(code: int) -> None:
    """End the process now, after flushing the logs. Skips interpreter finalization, which after loading torch
    and its libraries spends 2-5 s collecting millions of objects (the quit delay of issue #14), and never
    joins worker threads still inside the engine."""
    flush_logs()
    os._exit(code)


class Closer:
    """Closes the app once asked (``request``), from a thread of its own.

    ``cancel()`` stops the workers, ``save(timeout) -> bool`` writes the session, ``exit_app(code)`` asks the app
    to exit (both thread-safe), and ``leave(code)``, given when the app owns the process, ends it. Exit code: 0
    when the session was saved or there was nothing to save, 1 when the save failed or did not finish in time.
    """

    def __init__(self, cancel: Callable[[], None], save: Callable[[float], bool], exit_app: Callable[[int], None],
                 leave: Callable[[int], None] | None = None):
        self._cancel, self._save, self._exit_app, self._leave = cancel, save, exit_app, leave
        self._requested = threading.Event()
        self.why: str | None = None
        self.hangup = False  # the terminal is gone: nothing to restore, leave right after saving
        self.deadline = float("inf")
        self.code: int | None = None  # set once the save is done
        self._thread = threading.Thread(target=self._run, name="tracer-closer", daemon=True)
        self._thread.start()  # now, not in a signal handler: one may interrupt Thread.start holding its lock

    @property
    def closing(self) -> bool:
        return self._requested.is_set() and self.why is not None

    def request(self, why: str, hangup: bool = False) -> None:
        """Close the app. Safe in a signal handler (attribute writes and one Event.set). Asked again while
        closing (a second signal), the process is left at once."""
        if self._requested.is_set():
            self.deadline = time.monotonic()
            return
        self.why, self.hangup, self.deadline = why, hangup, time.monotonic() + EXIT_BOUND_S
        self._requested.set()

    def stop(self) -> None:
        """The app ended without a close request (in-process runs): let the thread finish."""
        if not self._requested.is_set():
            self._requested.set()

    def _run(self) -> None:
        self._requested.wait()
        if self.why is None:
            return
        log.info("%s: saving the session and exiting", self.why)
        self._cancel()
        saved = self._bounded(lambda: self._save(SAVE_BOUND_S), min(SAVE_BOUND_S, self._left()))
        self.code = 0 if saved else 1
        if self.hangup and self._leave is not None:
            self._leave(self.code)  # no terminal to restore
        self._exit_app(self.code)
        if self._leave is None:
            return
        while self._left() > 0:
            time.sleep(0.02)
        log.warning("%s: the app had not exited %.1f s later; leaving now", self.why, EXIT_BOUND_S)
        self._leave(self.code)

    def _left(self) -> float:
        return self.deadline - time.monotonic()

    def _bounded(self, call: Callable[[], bool], seconds: float) -> bool:
        """``call()`` in a daemon thread, waited for at most ``seconds`` (less if a second signal comes)."""
        result: list[bool] = []

        def run() -> None:
            try:
                result.append(bool(call()))
            except Exception as err:  # the save's own errors are logged there; anything else here
                log.warning("session not saved: %s", err)

        worker = threading.Thread(target=run, name="tracer-save", daemon=True)
        worker.start()
        end = time.monotonic() + seconds
        while worker.is_alive() and time.monotonic() < min(end, self.deadline):
            worker.join(0.02)
        if worker.is_alive():
            log.warning("session not saved: the save did not finish within %.1f s", seconds)
        return bool(result and result[0])
