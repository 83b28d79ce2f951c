"""``tracer-tui steer``: add alpha * d_i at a latent's site while sampling; compare undesired rates."""

from __future__ import annotations

import json

from .common import add_load_options, load_tracer
from .contrast import add_rule_options, add_sampling_options, stop_strings

HELP = "steer a latent while sampling and compare the undesired rate with unsteered and random latents"


def add_parser(sub) -> None:
    from ..engine.steering import DEFAULT_MULTIPLIER

    p = sub.add_parser("steer", help=HELP, description="Sample completions of PROMPT with alpha * d_i added to the "
                       "latent's site at every position, grade them with the rule, and compare the undesired rate "
                       "with the unsteered rate (same seed) and with R random active latents steered with the same alpha. "
                       "Negative alpha: --alpha=-8 or --alpha -8.")
    p.add_argument("prompt")
    p.add_argument("--latent", required=True, metavar="SITE:LATENT", help="e.g. blocks.2.hook_resid_pre:17")
    p.add_argument("--alpha", type=float, metavar="A", help="steering strength (default: --multiplier times the "
                   "latent's typical activation)")
    p.add_argument("--multiplier", type=float, default=DEFAULT_MULTIPLIER, metavar="X",
                   help="default alpha = X * the latent's mean nonzero activation on the prompt and unsteered "
                   f"completions (default {DEFAULT_MULTIPLIER:g})")
    p.add_argument("--random", type=int, default=0, metavar="R", help="random active latents to steer as a "
                   "control band (default 0)")
    add_rule_options(p)
    add_sampling_options(p, 64, "completions per condition (default 64)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_load_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.errors import TracerError
    from ..engine.steering import check_alpha, steer

    if args.samples < 1:
        raise TracerError(f"--samples must be at least 1, got {args.samples}")
    if args.random < 0:
        raise TracerError(f"--random must be >= 0, got {args.random}")
    if args.rule is None and args.keywords is None:
        raise TracerError("steer needs a rule to grade completions: --rule REGEX or --keywords a,b,c")
    check_alpha(args.alpha)
    check_alpha(args.multiplier)
    tracer = load_tracer(args)
    result = steer(tracer, args.prompt, args.latent, alpha=args.alpha, samples=args.samples, rule=args.rule,
                   keywords=args.keywords, random=args.random, seed=args.seed, temperature=args.temperature,
                   max_tokens=args.max_tokens, stop=stop_strings(args), multiplier=args.multiplier)
    data = result.to_json()
    if args.json:
        print(json.dumps(data))
        return 0
    band = data["random"]
    lines = [f"latent      {data['latent']}   alpha {data['alpha']:.4g} ({data['multiplier']:.3g} x typical "
             f"activation {data['typical']:.4g})",
             f"undesired   steered {data['rate']:.1%}   unsteered {data['unsteered_rate']:.1%}   "
             f"({data['samples']} samples each, seed {data['seed']})"]
    if band["rates"]:
        lines.append(f"random      {len(band['rates'])} latents: min {band['min']:.1%}  mean {band['mean']:.1%}  "
                     f"max {band['max']:.1%}")
    lines.append("")
    for c in data["completions"][:10]:
        lines.append(f"  {'U' if c['undesired'] else 'd'}  {c['text']!r}")
    print("\n".join(lines))
    return 0
