"""Steering validation: add alpha * d_i at a latent's site, at every position, while sampling new completions.

The steered completions are labelled with the same rule as the contrast, and their undesired rate is compared
with the unsteered rate (same seed, same number of samples: the groups share their sampling noise, see
``sampling.py``) and with a band of R random latents from the same SAE that are active on the prompt or the
unsteered completions (the post's "gray zone").

Scale: d_i is the SAE decoder row (not normalised). A latent's *typical activation* is the mean of its nonzero
activations over the prompt and the unsteered completions (BOS excluded). The default alpha is
``DEFAULT_MULTIPLIER`` (4) times the typical activation, i.e. adding the latent as if it fired four times as
strongly as usual; a user alpha is reported as the same multiplier (alpha / typical). A latent never active on
those tokens borrows the mean typical activation of its site's active latents.

The random band uses the same alpha: each random latent j gets alpha * |d_i| / |d_j|, a steering vector of the
same norm as the chosen latent's (exactly alpha when the SAE's decoder rows share one norm, as most do). So the
band answers "does any direction pushed this hard do this?", the post's gray zone.
"""

from __future__ import annotations

from dataclasses import dataclass

from .contrast import parse_latent
from ..core.defaults import (DEFAULT_MAX_TOKENS, DEFAULT_MULTIPLIER, DEFAULT_RANDOM, DEFAULT_SEED,
                             DEFAULT_STEER_SAMPLES, DEFAULT_STOP, DEFAULT_TEMPERATURE, check_alpha, check_steering)
from ..core.errors import TracerError
from .labeling import Completion, label, make_rule
from .sampling import NonFiniteLogits, prompt_ids, sample_groups
from .sae_site import check_plain_saes


@dataclass
class RandomSteer:
    id: str
    alpha: float
    rate: float

    def to_json(self) -> dict:
        return {"id": self.id, "alpha": self.alpha, "rate": self.rate}


@dataclass
class SteerResult:
    latent: str
    alpha: float
    multiplier: float  # alpha / typical activation
    typical: float
    samples: int
    rate: float
    unsteered_rate: float
    random: list[RandomSteer]
    completions: list[Completion]
    unsteered: list[Completion]
    seed: int

    @property
    def random_band(self) -> dict:
        rates = [r.rate for r in self.random]
        return {"rates": rates, "latents": [r.to_json() for r in self.random],
                "min": min(rates) if rates else None, "max": max(rates) if rates else None,
                "mean": sum(rates) / len(rates) if rates else None}

    def to_json(self) -> dict:
        return {"latent": self.latent, "alpha": self.alpha, "multiplier": self.multiplier, "typical": self.typical,
                "samples": self.samples, "seed": self.seed, "rate": self.rate, "unsteered_rate": self.unsteered_rate,
                "random": self.random_band, "completions": [c.to_json() for c in self.completions],
                "unsteered_completions": [c.to_json() for c in self.unsteered]}


def typical_activations(tracer, site, ids: list[int], completions_ids: list[list[int]], batch_tokens: int = 4096):
    """[d_sae] mean of each latent's nonzero activations over prompt + completions (BOS and padding excluded)."""
    import torch

    adapter = tracer.adapter
    rows = [list(ids) + list(c) for c in completions_ids] or [list(ids)]
    L = max(len(r) for r in rows)
    per = max(1, batch_tokens // L)
    total = torch.zeros(site.d_sae, dtype=torch.float64)
    count = torch.zeros(site.d_sae, dtype=torch.float64)
    grabbed = {}

    def grab(act, hook):
        grabbed["x"] = act

    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        tokens = torch.zeros((len(part), L), dtype=torch.long, device=adapter.device)
        valid = torch.zeros((len(part), L), dtype=torch.bool, device=adapter.device)
        for b, r in enumerate(part):
            tokens[b, : len(r)] = torch.tensor(r, device=adapter.device)
            valid[b, : len(r)] = True
        if adapter.prepends_bos:
            valid[:, 0] = False
        with torch.inference_mode(), adapter.hooks({site.site: grab}):
            adapter.run(tokens)
            f = site.encode(site.flat(grabbed["x"]))[valid]  # [n_valid, d_sae]
        total += f.sum(0).to("cpu", torch.float64)
        count += (f > 0).sum(0).to("cpu", torch.float64)
    return torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))


def steering_hooks(tracer, per_row: list[tuple[object, int, float] | None]):
    """``hooks(start, stop)`` for sample_groups: row r gets alpha * d_latent added at its site, all positions.

    per_row[r] = (SiteSAE, latent, alpha) or None (not steered).
    """
    import torch

    vecs: dict[str, object] = {}
    for r, spec in enumerate(per_row):
        if spec is None:
            continue
        site, latent, alpha = spec
        if site.site not in vecs:
            vecs[site.site] = (site, torch.zeros((len(per_row), site.d_in), dtype=tracer.adapter.dtype,
                                                 device=tracer.adapter.device))
        vec = float(alpha) * site.decoder_rows([latent])[0].to(tracer.adapter.dtype)
        if not bool(torch.isfinite(vec).all()):
            dtype = str(tracer.adapter.dtype).replace("torch.", "")
            raise TracerError(f"steering {site.site}:{latent} with alpha={float(alpha):g} overflows {dtype} "
                              "(the vector is NaN or infinite): use a smaller |alpha|")
        vecs[site.site][1][r] = vec

    def hooks(start: int, stop: int) -> dict:
        out = {}
        for name, (_site, v) in vecs.items():
            chunk = v[start:stop]
            if not bool(chunk.any()):
                continue

            def add(act, hook, chunk=chunk):
                return act + chunk.reshape(chunk.shape[0], 1, *act.shape[2:]).to(act.dtype)

            out[name] = add
        return out

    return hooks


def steer(tracer, prompt: str, latent: str, alpha: float | None = None, samples: int = DEFAULT_STEER_SAMPLES,
          rule=None, keywords=None, random: int = DEFAULT_RANDOM, seed: int = DEFAULT_SEED,
          temperature: float = DEFAULT_TEMPERATURE,
          max_tokens: int = DEFAULT_MAX_TOKENS, stop=DEFAULT_STOP, multiplier: float = DEFAULT_MULTIPLIER,
          row_chunk: int | None = None, progress=None, should_cancel=None) -> SteerResult:
    """Steer ``latent`` ('SITE:LATENT') by alpha * d_i while sampling; compare undesired rates (module docstring)."""
    import torch

    adapter = tracer.adapter
    site, index = parse_latent(tracer, latent)
    check_plain_saes([site], "steer")
    r = make_rule(rule, keywords)
    check_steering(samples, max_tokens, temperature, random, alpha, multiplier, has_rule=r is not None)
    alpha, multiplier = check_alpha(alpha), check_alpha(multiplier)
    ids = prompt_ids(adapter, prompt)
    report = progress or (lambda step, frac: None)
    samples, random = int(samples), int(random)
    opts = dict(max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop, row_chunk=row_chunk,
                should_cancel=should_cancel)

    unsteered = sample_groups(adapter, ids, samples, progress=lambda s, f: report(f"unsteered: {s}", 0.3 * f),
                              **opts)[0]
    report("typical activations", 0.3)
    typical = typical_activations(tracer, site, ids, [list(c.ids) for c in unsteered])
    active = typical > 0
    fallback = float(typical[active].mean()) if bool(active.any()) else 1.0
    scale = lambda j: float(typical[j]) if typical[j] > 0 else fallback  # noqa: E731
    if alpha is None:
        alpha = multiplier * scale(index)
    else:
        multiplier = alpha / scale(index)

    candidates = [j for j in active.nonzero().flatten().tolist() if j != index]
    g = torch.Generator().manual_seed(int(seed) + 1)
    chosen = [candidates[j] for j in torch.randperm(len(candidates), generator=g)[:random].tolist()]
    norms = site.decoder_rows([index, *chosen]).norm(dim=-1).tolist()
    groups = [(index, alpha)] + [(j, alpha * norms[0] / norm) for j, norm in zip(chosen, norms[1:])]
    per_row = [(site, j, a) for j, a in groups for _ in range(samples)]
    try:
        steered = sample_groups(adapter, ids, samples, groups=len(groups), hooks=steering_hooks(tracer, per_row),
                                progress=lambda s, f: report(f"steered: {s}", 0.32 + 0.68 * f), **opts)
    except NonFiniteLogits as err:
        j, a = groups[err.group]
        raise TracerError(f"steering {site.site}:{j} with alpha={a:g} makes the model's logits NaN or infinite; "
                          "use a smaller |alpha|") from None
    rate = lambda comps: sum(c.undesired is True for c in comps) / len(comps)  # noqa: E731
    unsteered = label(unsteered, rule=r)
    graded = [label(grp, rule=r) for grp in steered]
    rand = [RandomSteer(f"{site.site}:{j}", a, rate(grp)) for (j, a), grp in zip(groups[1:], graded[1:])]
    report("steering done", 1.0)
    return SteerResult(latent=f"{site.site}:{index}", alpha=float(alpha), multiplier=float(multiplier),
                       typical=scale(index), samples=samples, rate=rate(graded[0]), unsteered_rate=rate(unsteered),
                       random=rand, completions=graded[0], unsteered=unsteered, seed=int(seed))
