"""Command line: bare ``tracer-tui`` opens the TUI; subcommands live in ``tracer_tui.cli.commands``.

Imports nothing heavy at module level, so ``tracer-tui --help`` answers at once. Errors are one line on
stderr with exit code 2 (1 for faults), and nothing on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys

from .commands import add_all
from .common import add_load_options

PROG = "tracer-tui"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other error
        raise SystemExit(_fail(message))


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Which SAE latents made a language model produce this token? "
                     "With no command, opens the terminal UI.")
    add_load_options(parser)
    ui = parser.add_argument_group("terminal UI")
    ui.add_argument("--prompt", help="prefill the prompt box")
    ui.add_argument("--theme", help="theme name (see themes/); default: tracer-dark")
    ui.add_argument("--no-mouse", action="store_true", help="do not capture the mouse (plain terminals, SSH)")
    ui.add_argument("--resume", nargs="?", const="last", metavar="FILE",
                    help="reopen the last session, or a session file")
    ui.add_argument("--timing", action="store_true", help="print start-up timings (first paint) on exit")
    add_all(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            from ..tui.launch import run_tui

            return run_tui(args)
        return args.run(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # e.g. `tracer-tui trace ... --json | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:  # every failure ends as one line, never a traceback
        if os.environ.get("TRACER_TUI_DEBUG"):
            raise
        from .render import describe_error

        message, code = describe_error(err)
        return _fail(message, code)


if __name__ == "__main__":
    sys.exit(main())
