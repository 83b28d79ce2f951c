"""``tracer-tui trace``: attribute a target token to SAE latents; expand, ablate, verify."""

from __future__ import annotations

from ..core.defaults import DEFAULT_METRIC, DEFAULT_TOP_K, DEFAULT_UPSTREAM, METRICS, UPSTREAM_MODES
from .common import add_load_options, load_tracer

HELP = "attribute a target token to SAE latents"


def add_parser(sub) -> None:
    t = sub.add_parser("trace", help=HELP, description="Attribute a target token to SAE latents (one forward and "
                       "one backward pass), optionally expand, ablate and verify.")
    t.add_argument("prompt")
    tg = t.add_mutually_exclusive_group()
    tg.add_argument("--target", metavar="TOKEN", help="target token string, e.g. ' Paris' (default: top prediction, "
                    "or the prompt's next token when --position is inside the prompt)")
    tg.add_argument("--target-id", type=int, metavar="ID", help="target token id")
    t.add_argument("--position", type=int, metavar="P", help="position whose prediction is traced (default: last)")
    t.add_argument("--metric", default=DEFAULT_METRIC, choices=METRICS,
                   help=f"what the target's attribution explains (default {DEFAULT_METRIC}; see docs/attribution.md)")
    t.add_argument("--foil", "--contrast", dest="foil", metavar="TOKEN",
                   help="foil token for --metric logit-diff: its logit is subtracted (--contrast is its old name)")
    t.add_argument("--top", type=int, default=DEFAULT_TOP_K, metavar="K", help=f"nodes per level (default {DEFAULT_TOP_K})")
    t.add_argument("--depth", type=int, default=1, metavar="D", help="levels to expand (default 1: the root's)")
    t.add_argument("--min-attr", type=float, default=0.0, metavar="X", help="drop nodes with |attribution| < X")
    t.add_argument("--include-bos", action="store_true", help="keep nodes at the BOS position")
    t.add_argument("--ablate", action="append", default=[], metavar="NODE[=SCALE]",
                   help="ablate a node (zero, or scale it); repeatable, all applied together")
    t.add_argument("--upstream", default=DEFAULT_UPSTREAM, choices=UPSTREAM_MODES,
                   help="where children come from: the nearest upstream level (default) or all upstream sites pooled")
    t.add_argument("--verify", type=int, metavar="K",
                   help="real single ablations of the top K nodes of every printed level: actual beside estimated Δ")
    t.add_argument("--json", action="store_true", help="print one JSON object (the documented contract)")
    add_load_options(t)
    t.set_defaults(run=run)


def _parse_ablation(text: str):
    from ..core.errors import TracerError
    from ..core.nodes import Intervention, NodeId

    from ..core.defaults import MAX_SCALE

    node, _, scale = text.partition("=")
    try:
        value = float(scale) if scale else 0.0
    except ValueError:
        raise TracerError(f"bad scale in --ablate {text!r}: expected NODE or NODE=NUMBER") from None
    intervention = Intervention(NodeId.parse(node), value)
    if abs(value) > MAX_SCALE:  # NaN and inf are refused by Intervention itself
        raise TracerError(f"scale for {node} must be between {-MAX_SCALE:g} and {MAX_SCALE:g}, got {scale}: "
                          "larger scales overflow the activations")
    return intervention


def run(args) -> int:
    from ..core.errors import TracerError
    from ..engine.serialize import check_finite_output, dumps, expand_to_depth, trace_to_json, verify_levels

    from ..core.defaults import MAX_DEPTH_LEVELS, MAX_TOP_K, MAX_VERIFY, check_finite_range, check_int_range
    from .render import emit

    if args.depth < 1:
        raise TracerError(f"--depth must be at least 1, got {args.depth}")
    if args.verify is not None and args.verify < 1:
        raise TracerError(f"--verify must be at least 1, got {args.verify}")
    check_int_range("--depth", args.depth, 1, MAX_DEPTH_LEVELS)
    if args.verify is not None:
        check_int_range("--verify", args.verify, 1, MAX_VERIFY)
    if args.top is not None and args.top > MAX_TOP_K:
        check_int_range("top-K", args.top, 1, MAX_TOP_K)
    check_finite_range("minimum |attribution|", args.min_attr)  # nan, inf; negative: the engine's message
    interventions = [_parse_ablation(a) for a in args.ablate]
    tracer = load_tracer(args)
    trace = tracer.trace(args.prompt, target=args.target, target_id=args.target_id, position=args.position,
                         metric=args.metric, foil=args.foil, top_k=args.top, min_attr=args.min_attr,
                         include_bos=args.include_bos, upstream=args.upstream)
    expand_to_depth(trace, args.depth, args.top, args.min_attr)
    ablation = trace.ablate(interventions) if interventions else None
    verify = verify_levels(trace, args.verify, depth=args.depth)[0] if args.verify else None
    data = trace_to_json(trace, depth=args.depth, ablation=ablation, verify=verify)
    check_finite_output(data, "the trace")  # NaN is neither JSON nor a result, in either output form
    if args.json:
        emit(dumps(data, "the trace"))
    else:
        from .render import render_trace

        emit(render_trace(data))
    return 0
