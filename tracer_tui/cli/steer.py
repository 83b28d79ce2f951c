"""``tracer-tui steer``: add alpha * d_i at a latent's site while sampling; compare undesired rates."""

from __future__ import annotations

from ..core.defaults import DEFAULT_MULTIPLIER, DEFAULT_RANDOM, DEFAULT_STEER_SAMPLES
from .common import add_load_options, load_tracer
from .contrast import add_rule_options, add_sampling_options, stop_strings

HELP = "steer a latent while sampling and compare the undesired rate with unsteered and random latents"


def add_parser(sub) -> None:
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
    p.add_argument("--random", type=int, default=DEFAULT_RANDOM, metavar="R", help="random active latents to "
                   f"steer as a control band (default {DEFAULT_RANDOM})")
    add_rule_options(p)
    add_sampling_options(p, DEFAULT_STEER_SAMPLES, f"completions per condition (default {DEFAULT_STEER_SAMPLES})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_load_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..core.defaults import check_steering
    from ..engine.steering import steer

    from ..core.defaults import MAX_SAMPLES, check_alpha, check_sampling_bounds
    from ..core.errors import TracerError
    from ..engine.serialize import check_finite_output, dumps
    from .render import emit

    check_steering(args.samples, args.max_tokens, args.temperature, args.random, args.alpha, args.multiplier,
                   has_rule=args.rule is not None or args.keywords is not None)
    check_alpha(args.alpha, "alpha", nonzero=True)  # alpha 0 or multiplier 0 would steer nothing: refused, not run
    check_alpha(args.multiplier, "multiplier", nonzero=True)
    check_sampling_bounds(args.samples, args.max_tokens, args.temperature, args.seed)
    if args.samples * (args.random + 2) > MAX_SAMPLES:
        raise TracerError(f"steering would sample {args.samples} x ({args.random} random + 2) = "
                          f"{args.samples * (args.random + 2)} completions, more than {MAX_SAMPLES} fit in memory: "
                          "lower the samples or the random latents")
    tracer = load_tracer(args)
    result = steer(tracer, args.prompt, args.latent, alpha=args.alpha, samples=args.samples, rule=args.rule,
                   keywords=args.keywords, random=args.random, seed=args.seed, temperature=args.temperature,
                   max_tokens=args.max_tokens, stop=stop_strings(args), multiplier=args.multiplier)
    data = result.to_json()
    check_finite_output(data, "the steering result")
    if args.json:
        emit(dumps(data, "the steering result"))
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
    emit("\n".join(lines))
    return 0
