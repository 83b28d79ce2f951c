"""``tracer-tui bench``: the engine's performance on a GPT-2-small-shaped model (random weights, no download)."""

from __future__ import annotations

import sys

HELP = "measure the engine on a GPT-2-small-shaped model with 12 SAEs (no download)"

TARGETS = {"naive/trace": (">=", 4.0), "trace/(model+encode)": ("<=", 1.2), "expand16/expand1": ("<=", 6.0),
           "ablate6/forward": ("<=", 0.7)}


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help=HELP, description=HELP)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    p.add_argument("--repeat", type=int, default=5, metavar="N", help="timed repeats after a warm-up (>= 5)")
    p.add_argument("--tokens", type=int, default=32, help="prompt length (default 32; memory also at 128)")
    p.add_argument("--tiny", action="store_true", help="a tiny model instead of GPT-2 shape (for tests)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..bench.run import run_bench
    from ..core.errors import TracerError

    from ..bench.gpt2_shape import FULL, TINY
    from ..core.defaults import MAX_REPEAT, check_int_range
    from ..engine.serialize import dumps
    from .render import emit

    if args.repeat < 1 or args.tokens < 2:
        raise TracerError("--repeat must be >= 1 and --tokens >= 2")
    check_int_range("--repeat", args.repeat, 1, MAX_REPEAT)
    n_ctx = (TINY if args.tiny else FULL)["n_ctx"]
    check_int_range("--tokens", args.tokens, 2, n_ctx, f"the {'tiny' if args.tiny else 'GPT-2-shaped'} model's "
                    "context")
    quiet = args.json
    result = run_bench(device=args.device, repeat=args.repeat, tokens=args.tokens, tiny=args.tiny,
                       progress=None if quiet else lambda step: print(f"… {step}", file=sys.stderr, flush=True))
    if args.json:
        emit(dumps(result, "the benchmark"))
        return 0
    print(f"device {result['device']}, torch {result['torch']}, {result['threads']} threads, "
          f"{result['tokens']} tokens, median of {result['repeat']}")
    for name, sec in result["seconds"].items():
        print(f"  {name:<10} {sec * 1000:9.1f} ms")
    for name, value in result["ratios"].items():
        op, bound = TARGETS[name]
        ok = value >= bound if op == ">=" else value <= bound
        print(f"  {name:<22} {value:6.2f}   target {op} {bound}  {'ok' if ok else 'MISSED'}")
    mem = result["memory_bytes"]
    for name, value in mem.items():
        print(f"  memory {name:<12} {value / 2**20:9.1f} MiB")
    return 0
