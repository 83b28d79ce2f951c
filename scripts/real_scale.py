"""GPT-2 small with the 13 SAEs of gpt2-small-res-jb, at full size on the CPU: load time, trace time, peak memory.

No network is needed: a synthetic Hugging Face cache with GPT-2 small's real shapes (768 wide, 12 layers, 50257-token
vocabulary) and 13 SAEs shaped like gpt2-small-res-jb (768 x 24576, standard ReLU, real file layout) is built once
(tests/hub_cache.py), with random weights. The compute is the same as on the real weights; the tokenizer is the test
suite's small BPE, so prompts are chosen by token count. Each SAE's encoder bias is set for about 50 active latents
per token (calibrated on the random model's activations; 55-78 measured), a realistic L0: the number of active
latents drives a trace's cost.

Wall times depend on what else runs on the machine: the script prints the load average, and the CPU time (user +
system, all threads) of load and of each trace beside them. Every measurement runs in a fresh process, through the
same path as ``tracer-tui trace PROMPT --model gpt2 --sae gpt2-small-res-jb`` (``Tracer.load``, then ``trace``),
offline (HF_HUB_OFFLINE=1):

    python scripts/real_scale.py                 # build the cache in /tmp/tracer-tui-real-scale (about 2.3 GB)
    python scripts/real_scale.py --root DIR --threads 2 --repeat 2
    python scripts/real_scale.py --models gpt2 gpt2-medium gpt2-large   # load peaks of bigger shapes, model only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [f"blocks.{layer}.hook_resid_pre" for layer in range(12)] + ["blocks.11.hook_resid_post"]
D_SAE = 24576
L0 = 50  # latents firing per token in the synthetic SAEs


def build(root: Path) -> None:
    """The cache: full-size gpt2, then 13 SAEs whose encoder bias gives ~L0 active latents on the model's own
    activations (pre-activations are ~ N(0, |x - b_dec|^2 / d_in) for these random encoders)."""
    os.environ.update(HF_HOME=str(root), HF_HUB_OFFLINE="1")  # before huggingface_hub reads them on import
    sys.path.insert(0, str(ROOT / "tests"))
    import hub_cache
    import torch
    from transformer_lens import HookedTransformer

    hub = root / "hub"
    hub_cache.add_gpt2(hub, full_size=True)
    model = HookedTransformer.from_pretrained("gpt2", device="cpu")
    _, cache = model.run_with_cache(long_prompt(model.tokenizer, 177), names_filter=HOOKS)
    quantile = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(1 - L0 / D_SAE)).item()
    # |x - b_dec|^2 = |x|^2 + |b_dec|^2 on average, b_dec ~ N(0, 0.05^2) per entry (hub_cache._sae_tensors).
    sigma = {h: float((cache[h][0, 1:].norm(dim=-1) ** 2 + 0.05**2 * 768).sqrt().mean()) / 768**0.5 for h in HOOKS}
    del model, cache
    hub_cache.add_res_jb(hub, layers=range(12), post=(11,), d_in=768, d_sae=D_SAE,
                         b_enc=lambda hook: -quantile * sigma[hook])
    (root / "built").write_text(json.dumps({"l0_target": L0, "sigma": sigma}))


def long_prompt(tokenizer, n_tokens: int) -> str:
    """A prompt of exactly ``n_tokens`` tokens after the BOS (words of a fixed text, cut to length)."""
    words = ("The Eiffel Tower is in the city of Paris. The Colosseum is in the city of Rome. When Mary and John "
             "went to the park, John gave the ball to Mary. ").split() * 40
    text = ""
    for word in words:
        longer = (text + " " + word).strip()
        if len(tokenizer(longer)["input_ids"]) > n_tokens:
            break
        text = longer
    return text


MEASURE = r"""
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0 = time.perf_counter()
import torch
torch.set_num_threads(int(sys.argv[1]))
from tracer_tui.engine import Tracer
t_import = time.perf_counter() - t0
t1, c1 = time.perf_counter(), cpu()
tracer = Tracer.load(model="gpt2", saes=["gpt2-small-res-jb"], device="cpu")
t_load = time.perf_counter() - t1
out = {"import_s": t_import, "load_s": t_load, "load_cpu_s": cpu() - c1, "saes": len(tracer.saes),
       "rss_after_load_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
for name, prompt in json.loads(sys.argv[2]).items():
    for i in range(int(sys.argv[3])):
        t, c = time.perf_counter(), cpu()
        trace = tracer.trace(prompt)
        run = "" if i == 0 else f"_{i + 1}"
        out[f"trace_{name}_s{run}"], out[f"trace_{name}_cpu_s{run}"] = time.perf_counter() - t, cpu() - c
    out[f"tokens_{name}"] = len(trace.tokens)
    out[f"peak_rss_after_{name}_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def measure(root: Path, threads: int, repeat: int) -> dict:
    from transformers import AutoTokenizer

    snapshot = next((root / "hub" / "models--gpt2" / "snapshots").iterdir())
    tok = AutoTokenizer.from_pretrained(str(snapshot))
    prompts = {"short": long_prompt(tok, 10), "long": long_prompt(tok, 176)}  # + BOS: 11 and 177 tokens
    env = {**os.environ, "HF_HOME": str(root), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run([sys.executable, "-c", MEASURE, str(threads), json.dumps(prompts), str(repeat)], env=env,
                            capture_output=True, text=True, check=True)
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    # The whole CLI command, as a user types it: wall time of a fresh process, load + one short trace.
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tracer_tui.cli", "trace", prompts["short"], "--model", "gpt2", "--sae",
                    "gpt2-small-res-jb", "--device", "cpu"], env=env, capture_output=True, text=True, check=True)
    numbers["cli_trace_short_wall_s"] = time.perf_counter() - start
    repos = ("models--gpt2", "models--jbloom--GPT2-Small-SAEs-Reformatted")
    numbers["cache_bytes"] = sum(f.stat().st_size for r in repos for f in (root / "hub" / r / "blobs").iterdir())
    return numbers


SHAPES = {"gpt2": {}, "gpt2-medium": dict(n_embd=1024, n_layer=24, n_head=16),
          "gpt2-large": dict(n_embd=1280, n_layer=36, n_head=20), "gpt2-xl": dict(n_embd=1600, n_layer=48, n_head=25)}

MODEL_PEAK = r"""
import json, resource, sys, torch
from tracer_tui.engine.loading import load_model
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
adapter = load_model(sys.argv[1], None, torch.device("cpu"), torch.float32, {})
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
n = sum(p.numel() for p in adapter.model.parameters())
print(json.dumps({"model": sys.argv[1], "params": n, "load_peak_mb": peak / 2**20,
                  "load_bytes_per_param": (peak - base) / n}))
"""


def model_peak(root: Path, name: str) -> dict:
    """Peak memory of loading one full-size synthetic GPT-2 model (``name`` in SHAPES) by its TransformerLens name,
    in a fresh process: how many bytes per parameter TransformerLens's load needs at its peak."""
    os.environ.update(HF_HOME=str(root), HF_HUB_OFFLINE="1")
    sys.path.insert(0, str(ROOT / "tests"))
    import hub_cache

    if not (root / "hub" / f"models--{name}").is_dir():
        hub_cache.add_gpt2(root / "hub", repo_id=name, full_size=True, **SHAPES[name])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", MODEL_PEAK, name], env=env, capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/tracer-tui-real-scale"), help="the cache (HF_HOME)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--repeat", type=int, default=2, help="traces per prompt (the first includes warm-up)")
    parser.add_argument("--models", nargs="*", default=[], choices=list(SHAPES),
                        help="also measure the load peak of these full-size GPT-2 shapes (model only)")
    args = parser.parse_args(argv)
    for name in args.models:
        print(json.dumps(model_peak(args.root, name)))
    if args.models:
        return 0
    if not (args.root / "built").is_file():
        start = time.perf_counter()
        build(args.root)
        print(f"built the cache in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    numbers = measure(args.root, args.threads, args.repeat)
    numbers["cpus"] = os.cpu_count()
    numbers["load_average"] = os.getloadavg()[0]
    print(json.dumps(numbers, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
