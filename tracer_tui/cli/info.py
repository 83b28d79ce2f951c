"""``tracer-tui info``: the model and SAEs that would be loaded, with their sources (and the Hugging Face cache
they came from, when any did)."""

from __future__ import annotations

from pathlib import Path

from .common import add_load_options, load_tracer

HELP = "describe the model and SAEs that would be loaded"


def add_parser(sub) -> None:
    p = sub.add_parser("info", help=HELP, description=HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_load_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    info = load_tracer(args).info()
    if args.json:
        from ..engine.serialize import dumps

        print(dumps(info, "the model's description"))
        return 0
    m = info["model"]
    print(f"model  {m['name']}  ({m['layers']} layers, d_model {m['d_model']}, vocab {m['vocab']}, "
          f"{m['device']}, {m['dtype']})\n       source: {m['source']}")
    for s in info["saes"]:
        print(f"sae    {s['site']}  d_sae {s['d_sae']}  source: {s['source']}")
    if any(not Path(src).is_absolute() for src in [m["source"], *(s["source"] for s in info["saes"])]):
        from ..engine import hub

        print(f"hub    cache {hub.cache_dir()}{'  (offline)' if hub.is_offline() else ''}")
    return 0
