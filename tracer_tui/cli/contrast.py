"""``tracer-tui contrast``: which latents separate undesired from desired completions (Δ-attribution)."""

from __future__ import annotations

from ..core.defaults import (CONTRAST_MODES, DEFAULT_CONTRAST_MODE, DEFAULT_CONTRAST_TOP, DEFAULT_MAX_TOKENS,
                             DEFAULT_SAMPLES, DEFAULT_SEED, DEFAULT_STOP, DEFAULT_TEMPERATURE)
from .common import add_load_options, load_tracer

HELP = "rank latents by Δ-attribution between undesired and desired completions"


def add_sampling_options(p, samples_default, samples_help) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--samples", type=int, default=samples_default, metavar="N", help=samples_help)
    g.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE, metavar="T",
                   help=f"sampling temperature (default {DEFAULT_TEMPERATURE:g}; 0 = greedy)")
    g.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, metavar="M", help="tokens per completion "
                   f"at most (default {DEFAULT_MAX_TOKENS}); sampling also stops at EOS and at --stop")
    g.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S", help=f"random seed (default {DEFAULT_SEED})")
    stops = ", ".join(repr(s) for s in DEFAULT_STOP)
    g.add_argument("--stop", action="append", metavar="TEXT", help="stop string, repeatable; \\n and \\t are "
                   f"understood (default: {stops}; --stop '' for none)")


def add_rule_options(p) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--rule", metavar="REGEX", help="a completion matching this regex (case-insensitive) is "
                   "undesired")
    g.add_argument("--keywords", metavar="A,B,C", help="a completion containing any of these words "
                   "(case-insensitive) is undesired")


def stop_strings(args):
    from ..engine.labeling import unescape

    if args.stop is None:
        return DEFAULT_STOP
    return tuple(unescape(s) for s in args.stop if s)


def add_parser(sub) -> None:
    p = sub.add_parser("contrast", help=HELP, description="Sample completions of PROMPT (or read them from a file), "
                       "label them undesired/desired with a rule, and rank SAE latents by Δ-attribution: the mean "
                       "attribution to the completion's log-prob over undesired completions minus over desired ones. "
                       "The activation-difference baseline is shown beside it.")
    p.add_argument("prompt")
    add_rule_options(p)
    p.add_argument("--completions", metavar="FILE", help="completions to use: JSON lines {\"completion\": ..., "
                   "\"undesired\": true|false|null} or plain text separated by lines holding only ---")
    p.add_argument("--label", action="append", default=[], metavar="I=VALUE",
                   help="override completion I's label: undesired, desired or none (also true/false); repeatable")
    p.add_argument("--top", type=int, default=DEFAULT_CONTRAST_TOP, metavar="K",
                   help=f"latents to list (default {DEFAULT_CONTRAST_TOP})")
    p.add_argument("--mode", default=DEFAULT_CONTRAST_MODE, choices=CONTRAST_MODES,
                   help="zero: zero-ablation attribution f*(g.d) (default); mean: mean-ablation projection "
                   "(g.d)((a-mean).d) with unit d (the post's -(g.d)((a-mean).d) with g the loss gradient)")
    p.add_argument("--means-text", metavar="FILE", help="mean mode: text to compute mean activations from "
                   "(default: the bundle's means.safetensors, else the sample prompts)")
    add_sampling_options(p, None, f"completions to sample (default {DEFAULT_SAMPLES}, or 0 with --completions)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_load_options(p)
    p.set_defaults(run=run)


def parse_labels(items) -> dict:
    from ..core.errors import TracerError

    values = {"undesired": True, "true": True, "yes": True, "1": True, "desired": False, "false": False,
              "no": False, "0": False, "none": None, "null": None, "unlabelled": None}
    out = {}
    for item in items:
        index, _, value = item.partition("=")
        try:
            i = int(index)
        except ValueError:
            raise TracerError(f"bad --label {item!r}: expected I=undesired|desired|none, e.g. 3=desired") from None
        if value.strip().lower() not in values:
            raise TracerError(f"bad --label {item!r}: the value must be undesired, desired or none")
        out[i] = values[value.strip().lower()]
    return out


def run(args) -> int:
    from ..core.defaults import check_sampling
    from ..engine.checks import check_top_k
    from ..engine.contrast import contrast

    from ..core.defaults import MAX_TOP_K, check_int_range, check_sampling_bounds
    from ..engine.serialize import check_finite_output, dumps
    from .render import emit

    check_top_k(args.top)
    check_int_range("top-K", args.top, 1, MAX_TOP_K)
    check_sampling(1 if args.samples is None else args.samples, args.max_tokens, args.temperature)
    check_sampling_bounds(1 if args.samples is None else args.samples, args.max_tokens, args.temperature, args.seed)
    labels = parse_labels(args.label)
    tracer = load_tracer(args)
    c = contrast(tracer, args.prompt, completions=args.completions, samples=args.samples, rule=args.rule,
                 keywords=args.keywords, labels=labels, mode=args.mode, means_text=args.means_text,
                 temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed, stop=stop_strings(args))
    data = c.to_json(args.top)
    check_finite_output(data, "the contrast")
    emit(dumps(data, "the contrast") if args.json else render(data))
    return 0


def render(data: dict) -> str:
    n = data["counts"]
    lines = [f"prompt  {data['prompt']!r}", f"mode    {data['mode']}   completions: {n['undesired']} undesired, "
             f"{n['desired']} desired, {n['unlabelled']} unlabelled", ""]
    head = f"{'#':>3}  {'latent':<32} {'Δ-attr':>10} {'± se':>8} {'act diff':>10}  label"
    lines.append(head)
    lines += _rows(data["latents"])
    lines += ["", "baseline (activation difference):", head]
    lines += _rows(data["baseline"])
    lines.append(f"\noverlap of the two top-{len(data['latents'])} lists: {data['overlap']}")
    if data.get("top_gap_in_se") is not None:
        gap = data["top_gap_in_se"]
        lines.append(f"#1 vs #2: {gap:.1f} standard errors apart" + ("" if gap >= 2 else
                     " - not separated by these samples: sample more, and check both by steering"))
    return "\n".join(lines)


def _rows(latents) -> list[str]:
    return [f"{i:>3}  {x['id']:<32} {x['delta_attribution']:>10.4f} {x['delta_se']:>8.4f} "
            f"{x['activation_difference']:>10.4f}  {x['label'] or ''}" for i, x in enumerate(latents, 1)]
