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


def check_terminal(stdin=None) -> None:
    """The TUI reads keys from a terminal: a closed stdin or one that is a file or a pipe (``</dev/null``, cron,
    CI) is refused with one line before Textual starts (which would otherwise hang or crash)."""
    from ..core.errors import TracerError

    stdin = sys.stdin if stdin is None else stdin
    try:
        tty = stdin is not None and not stdin.closed and stdin.isatty()
    except (OSError, ValueError):  # a closed or invalid descriptor
        tty = False
    if not tty:
        raise TracerError("the terminal UI needs a terminal, but standard input is not one (closed or redirected); "
                          "run tracer-tui in a terminal, or use a subcommand such as `tracer-tui trace PROMPT "
                          "--json` in scripts")


def run_tui(args) -> int:
    from .options import Options
    from .timing import Timing

    check_terminal()

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
