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

    def _get_values(self, action, arg_strings):
        # argparse drops a '--' given as an option's value (`--depth=--`, `--label --`), leaving a list where one
        # value belongs; the value is the text '--' (then converted and refused like any other).
        if arg_strings == ["--"] and action.nargs is None:
            value = self._get_value(action, "--")
            self._check_value(action, value)
            return value
        return super()._get_values(action, arg_strings)


def _fail(message: str, code: int = 2) -> int:
    if sys.stderr is not None:  # a closed stderr: the exit code is all that can be said
        try:
            print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
        except OSError:
            pass
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Which SAE latents made a language model produce this token? "
                     "With no command, opens the terminal UI.")
    add_load_options(parser)
    ui = parser.add_argument_group("terminal UI")
    ui.add_argument("--prompt", help="a prompt to trace as soon as the model is loaded")
    ui.add_argument("--theme", help="theme name (see themes/); default: tracer-dark")
    ui.add_argument("--no-mouse", action="store_true", help="do not capture the mouse (plain terminals, SSH)")
    ui.add_argument("--resume", nargs="?", const="last", metavar="FILE",
                    help="reopen the last session, or a session file")
    ui.add_argument("--timing", action="store_true", help="print start-up timings (first paint) on exit")
    add_all(parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser))
    return parser


# Options that name files or directories: any bytes are a valid path on POSIX, so they are not refused as
# non-UTF-8 text. The prompt has the engine's own message.
PATH_OPTIONS = ("model", "sae", "completions", "means_text", "resume", "prompt")
# Options naming a path that must be a directory (d) or a file (f) when it exists (when it does not, the loader
# decides whether it is a name, e.g. a Hugging Face model or an SAE release).
PATH_KINDS = {"model": ("d", "model", "a bundle directory or a model name"),
              "sae": ("d", "SAE", "an SAE directory (holding cfg.json) or RELEASE/SAE_ID"),
              "means_text": ("f", "means text file", "a text file"),
              "completions": ("f", "completions file", "a JSON-lines or text file")}


def check_args(args) -> None:
    """Checks every subcommand shares, before anything loads: text options must be UTF-8, the device name must
    be one torch can mean, a path option must be the kind of path it names, stdout must be open."""
    from ..core.defaults import check_device_name, text_is_utf8
    from ..core.validation import expand_path
    from ..core.errors import TracerError

    for dest, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, str) and dest not in PATH_OPTIONS and not text_is_utf8(item):
                raise TracerError(f"--{dest.replace('_', '-')} contains bytes that are not valid UTF-8; "
                                  "re-encode it as UTF-8")
    check_device_name(getattr(args, "device", None))
    for dest, (kind, what, expected) in PATH_KINDS.items():
        value = getattr(args, dest, None)
        for item in value if isinstance(value, list) else [value]:
            if not item:
                continue
            path = expand_path(str(item), what)
            if kind == "d" and path.is_file():
                raise TracerError(f"{what} {str(item)!r} is a file; expected {expected}")
            if kind == "f" and path.is_dir():
                raise TracerError(f"{what} {str(item)!r} is a directory; expected {expected}")
    if args.command is not None and sys.stdout is None:
        raise TracerError("standard output is closed: there is nowhere to write the result; redirect it to a file "
                          "or /dev/null")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
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
