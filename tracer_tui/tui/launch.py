"""Entry point for bare ``tracer-tui``: build the app from CLI options, run it, report timing."""

from __future__ import annotations

import logging
import sys
import time

_LAUNCH = time.perf_counter()


def _setup_log() -> None:
    from ..core import paths

    try:
        path = paths.log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tracer_tui")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def run_tui(args) -> int:
    from .options import Options
    from .timing import Timing

    timing = Timing(_LAUNCH)
    _setup_log()
    from .app import TracerApp

    options = Options.from_args(args)
    app = TracerApp(options, timing=timing)
    app.run(mouse=not options.no_mouse)
    if options.timing:
        print(timing.report(), file=sys.stderr)
    logging.getLogger("tracer_tui.tui").info(timing.report())
    return int(app.return_code or 0)
