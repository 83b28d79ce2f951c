"""Command line: ``tracer-tui`` (the TUI), ``trace``, ``info`` and friends.

Imports nothing heavy at module level, so ``tracer-tui --help`` answers at once. Errors are one line on
stderr with exit code 2, and nothing on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

PROG = "tracer-tui"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other error
        raise SystemExit(_fail(message))


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return code


def _load_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model and SAEs")
    g.add_argument("--model", metavar="M", help="TransformerLens model name (from the HF cache) or a bundle "
                   "directory; default: the bundled demo model")
    g.add_argument("--sae", metavar="SPEC", action="append", default=[],
                   help="RELEASE/SAE_ID, RELEASE (all its SAEs), or an SAE directory; repeatable")
    g.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    g.add_argument("--dtype", default="float32", help="float32 (default), float64, bfloat16, float16 (GPU)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Which SAE latents made a language model produce this token? "
                     "With no command, opens the terminal UI.")
    _load_options(parser)
    ui = parser.add_argument_group("terminal UI")
    ui.add_argument("--prompt", help="prefill the prompt box")
    ui.add_argument("--theme", help="theme name (see themes/); default: tracer-dark")
    ui.add_argument("--no-mouse", action="store_true", help="do not capture the mouse (plain terminals, SSH)")
    ui.add_argument("--resume", nargs="?", const="last", metavar="FILE",
                    help="reopen the last session, or a session file")
    ui.add_argument("--timing", action="store_true", help="print start-up timings (first paint) on exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("trace", help="attribute a target token to SAE latents", description="Attribute a target "
                       "token to SAE latents (one forward and one backward pass), optionally expand, ablate, verify.")
    t.add_argument("prompt")
    tg = t.add_mutually_exclusive_group()
    tg.add_argument("--target", metavar="TOKEN", help="target token string, e.g. ' Paris' (default: top prediction, "
                    "or the prompt's next token when --position is inside the prompt)")
    tg.add_argument("--target-id", type=int, metavar="ID", help="target token id")
    t.add_argument("--position", type=int, metavar="P", help="position whose prediction is traced (default: last)")
    t.add_argument("--metric", default="logprob", choices=["logprob", "logit", "logit-diff"])
    t.add_argument("--contrast", metavar="TOKEN", help="contrast token for --metric logit-diff")
    t.add_argument("--top", type=int, default=10, metavar="K", help="nodes per level (default 10)")
    t.add_argument("--depth", type=int, default=1, metavar="D", help="levels to expand (default 1: the root's)")
    t.add_argument("--min-attr", type=float, default=0.0, metavar="X", help="drop nodes with |attribution| < X")
    t.add_argument("--include-bos", action="store_true", help="keep nodes at the BOS position")
    t.add_argument("--ablate", action="append", default=[], metavar="NODE[=SCALE]",
                   help="ablate a node (zero, or scale it); repeatable, all applied together")
    t.add_argument("--verify", type=int, metavar="K", help="real single ablations of the top K root nodes")
    t.add_argument("--json", action="store_true", help="print one JSON object (the documented contract)")
    _load_options(t)

    i = sub.add_parser("info", help="describe the model and SAEs that would be loaded")
    i.add_argument("--json", action="store_true")
    _load_options(i)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None:
            from .tui.launch import run_tui

            return run_tui(args)
        handler = {"trace": cmd_trace, "info": cmd_info}[args.command]
        return handler(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as err:  # every failure ends as one line, never a traceback
        return _report(err)


def _report(err: BaseException) -> int:
    from .errors_text import describe

    if os.environ.get("TRACER_TUI_DEBUG"):
        raise err
    message, code = describe(err)
    return _fail(message, code)


def _tracer(args):
    from .engine.tracer import Tracer

    return Tracer.load(model=args.model, saes=args.sae, device=args.device, dtype=args.dtype)


def _parse_ablation(text: str):
    from .engine.errors import TracerError
    from .engine.nodes import Intervention, NodeId

    node, _, scale = text.partition("=")
    try:
        value = float(scale) if scale else 0.0
    except ValueError:
        raise TracerError(f"bad scale in --ablate {text!r}: expected NODE or NODE=NUMBER") from None
    return Intervention(NodeId.parse(node), value)


def cmd_trace(args) -> int:
    from .engine.errors import TracerError
    from .engine.serialize import expand_to_depth, trace_to_json

    if args.depth < 1:
        raise TracerError(f"--depth must be at least 1, got {args.depth}")
    if args.verify is not None and args.verify < 1:
        raise TracerError(f"--verify must be at least 1, got {args.verify}")
    interventions = [_parse_ablation(a) for a in args.ablate]
    tracer = _tracer(args)
    trace = tracer.trace(args.prompt, target=args.target, target_id=args.target_id, position=args.position,
                         metric=args.metric, contrast=args.contrast, top_k=args.top, min_attr=args.min_attr,
                         include_bos=args.include_bos)
    expand_to_depth(trace, args.depth, args.top, args.min_attr)
    ablation = trace.ablate(interventions) if interventions else None
    verify = trace.verify(args.verify) if args.verify else None
    data = trace_to_json(trace, depth=args.depth, ablation=ablation, verify=verify)
    if args.json:
        print(json.dumps(data))
    else:
        from .text_report import render_trace

        print(render_trace(data))
    return 0


def cmd_info(args) -> int:
    tracer = _tracer(args)
    info = tracer.info()
    if args.json:
        print(json.dumps(info))
    else:
        m = info["model"]
        print(f"model  {m['name']}  ({m['layers']} layers, d_model {m['d_model']}, vocab {m['vocab']}, "
              f"{m['device']}, {m['dtype']})\n       source: {m['source']}")
        for s in info["saes"]:
            print(f"sae    {s['site']}  d_sae {s['d_sae']}  source: {s['source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
