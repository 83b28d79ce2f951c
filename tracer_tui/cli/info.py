"""``tracer-tui info``: the model and SAEs that would be loaded, with their sources."""

from __future__ import annotations

import json

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
        print(json.dumps(info))
        return 0
    m = info["model"]
    print(f"model  {m['name']}  ({m['layers']} layers, d_model {m['d_model']}, vocab {m['vocab']}, "
          f"{m['device']}, {m['dtype']})\n       source: {m['source']}")
    for s in info["saes"]:
        print(f"sae    {s['site']}  d_sae {s['d_sae']}  source: {s['source']}")
    return 0
