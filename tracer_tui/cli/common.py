"""Options and helpers shared by the subcommands."""

from __future__ import annotations


def add_load_options(p) -> None:
    g = p.add_argument_group("model and SAEs")
    g.add_argument("--model", metavar="M", help="TransformerLens model name (from the HF cache) or a bundle "
                   "directory; default: the bundled demo model")
    g.add_argument("--sae", metavar="SPEC", action="append", default=[],
                   help="RELEASE/SAE_ID, RELEASE (all its SAEs), or an SAE directory; repeatable")
    g.add_argument("--labels", metavar="FILE", action="append", default=[],
                   help="Neuronpedia explanation export (JSON) whose descriptions label the latents of the loaded "
                   "SAE with the same Neuronpedia id (modelId/layer); repeatable")
    g.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    g.add_argument("--dtype", default="float32", help="float32 (default), float64, bfloat16, float16 (GPU)")


def load_tracer(args, progress=None):
    """Load the model and SAEs; setups that load but may mislead (an SAE trained on another model) are one
    ``warning:`` line each on stderr, never on stdout (``--json`` stays one object)."""
    import sys

    from ..engine.tracer import Tracer

    tracer = Tracer.load(model=args.model, saes=args.sae, device=args.device, dtype=args.dtype, progress=progress,
                         labels=getattr(args, "labels", None) or ())
    for line in tracer.warnings:
        print(f"tracer-tui: warning: {line}", file=sys.stderr)
    return tracer
