"""Entry point for bare ``tracer-tui``: build the app from CLI options, run it, report timing."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

_LAUNCH = time.perf_counter()


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
    from ..core import paths

    paths.open_log()
    from .app import TracerApp

    from .shutdown import leave

    options = Options.from_args(args)
    app = TracerApp(options, timing=timing)
    app.exit_process = True  # a stuck close ends the process (tui/shutdown.py)
    # Our own loop: asyncio.run would wait for every worker thread (one may be inside a long engine call)
    # before returning; cancelled workers are not waited for, leave() ends them.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app.run(mouse=not options.no_mouse, loop=loop)
    code = int(app.return_code or 0)
    try:
        if options.timing:
            print(timing.report(), file=sys.stderr)
    except OSError:  # the terminal is gone
        pass
    logging.getLogger("tracer_tui.tui").info(timing.report())
    leave(code)  # the session is saved and the screen restored: skip finalization and worker threads
    return code
