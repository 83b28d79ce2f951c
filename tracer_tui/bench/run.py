"""The bench itself: every figure from one run, on one device, with the same model and prompt."""

from __future__ import annotations

import platform

from .gpt2_shape import FULL, TINY, build
from .measure import median_time, trace_peak_memory
from .naive import naive_attribution, naive_model


def run_bench(device: str = "auto", repeat: int = 5, tokens: int = 32, tiny: bool = False, seed: int = 0,
              long_tokens: int = 128, progress=None) -> dict:
    import torch

    from ..engine.devices import resolve_device
    from ..engine.forward import clean_run, site_recorder
    from ..core.nodes import Intervention
    from ..engine.tracer import Tracer

    report = progress or (lambda step: None)
    dev = resolve_device(device)
    shape = TINY if tiny else FULL
    report("building the GPT-2-shaped model and SAEs")
    setup = build(shape, dev, torch.float32, seed=seed)
    tracer = Tracer.from_models(setup.model, setup.saes, source="bench")
    g = torch.Generator().manual_seed(seed + 1)
    prompt = torch.randint(0, shape["d_vocab"], (tokens,), generator=g).tolist()
    ids = torch.tensor([prompt], device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    adapter, sites = tracer.adapter, tracer.sites

    def model_fwd_bwd():
        acts = {}
        with torch.enable_grad(), adapter.hooks({s: site_recorder(acts) for s in sites}):
            logits = adapter.logits_at(adapter.run(ids), tokens - 1)
            torch.autograd.grad(torch.log_softmax(logits, -1)[0, 0], list(acts.values()))

    with torch.inference_mode():
        cached = clean_run(adapter, tracer.saes, ids, tokens - 1)
        site_acts = [s.flat(st.act.detach())[0] for s, st in zip(tracer.saes, cached.sites)]

    def encode():
        with torch.inference_mode():
            for s, x in zip(tracer.saes, site_acts):
                s.encode(x)

    times = {}
    report("timing: model forward + backward")
    times["model"] = median_time(model_fwd_bwd, repeat, sync)
    report("timing: SAE encoders")
    times["encode"] = median_time(encode, repeat, sync)
    report("timing: trace")
    times["trace"] = median_time(lambda: tracer.trace(prompt), repeat, sync)

    # 16 latents of one site (the deepest with enough), so expand1 and expand16 differ only in batch size. They are
    # picked among every site's nodes (upstream "all"); expanding and ablating them use the default trace.
    every = tracer.trace(prompt, top_k=100000, upstream="all").nodes
    trace = tracer.trace(prompt)
    by_site = {}
    for n in every:
        if not n.id.is_error and n.id.site != sites[0]:
            by_site.setdefault(n.id.site, []).append(str(n.id))
    expand_site = max((s for s in by_site if len(by_site[s]) >= 16), key=sites.index)
    latents = by_site[expand_site][:16]
    report("timing: expand 1 and 16 nodes")
    times["expand1"] = median_time(lambda: trace.expand(latents[:1]), repeat, sync)
    times["expand16"] = median_time(lambda: trace.expand(latents), repeat, sync)

    mid = shape["n_layers"] // 2
    node = next(n for n in every if n.id.site == f"blocks.{mid}.hook_resid_pre" and not n.id.is_error)
    report("timing: ablation at the middle layer vs a full forward")
    times["ablate6"] = median_time(lambda: trace.ablate([Intervention(node.id, 0.0)]), repeat, sync)

    def forward():
        with torch.inference_mode():
            adapter.logits_at(adapter.run(ids), tokens - 1)

    times["forward"] = median_time(forward, repeat, sync)

    report("timing: naive SAE-Lens splice")
    naive = naive_model(setup)
    target = trace.target.id
    times["naive"] = median_time(lambda: naive_attribution(naive, sites, ids, target), repeat, sync)
    naive = None  # free the spliced copy before the memory measurements

    report("measuring peak memory")
    long_prompt = torch.randint(0, shape["d_vocab"], (long_tokens,), generator=g).tolist()
    memory = {f"trace_{tokens}": trace_peak_memory(tracer, prompt, dev),
              f"trace_{long_tokens}": trace_peak_memory(tracer, long_prompt, dev),
              "weights": setup.weights_bytes}

    ratios = {
        "naive/trace": times["naive"] / times["trace"],
        "trace/(model+encode)": times["trace"] / (times["model"] + times["encode"]),
        "expand16/expand1": times["expand16"] / times["expand1"],
        "ablate6/forward": times["ablate6"] / times["forward"],
    }
    return {
        "device": str(dev) if dev.type != "cuda" else f"cuda ({torch.cuda.get_device_name(dev)})",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "shape": {k: v for k, v in shape.items()},
        "tokens": tokens,
        "expand_site": expand_site,
        "repeat": repeat,
        "seconds": times,
        "ratios": ratios,
        "memory_bytes": memory,
    }
