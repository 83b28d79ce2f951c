"""Contrast mode: which latents separate undesired from desired completions (Δ-attribution, OpenAI 2025).

For each completion c of the prompt, the metric is m_c = sum of log p(token | prompt + earlier completion
tokens) over c's tokens. Each latent's attribution to m_c is summed over all positions of prompt + completion
(BOS excluded):

* ``zero`` (default, zero-ablation): A_i = sum_p f_i[p] * (g[p] . d_i), g = dm_c/dx at the site.
* ``mean`` (the post's mean-ablation projection): A_i = sum_p (g[p] . d̂_i) * ((x[p] - x̄) . d̂_i), with d̂_i the
  unit decoder direction and x̄ the site's mean activation (see ``means.py``): the first-order estimate of
  m(clean) - m(projection on d̂_i replaced by the mean's). The post writes it -(g . d̂)((a - ā) . d̂) with g the
  gradient of the loss, -log p; with the log-prob's gradient the sign flips, so that in both modes A > 0 means
  the latent supports the completion. Every latent, active or not, gets a value in this mode.

Δ-attribution_i = mean over undesired completions of A_i - mean over desired ones. Unlabelled completions count
in neither mean. Its standard error, sqrt(var_u/n_u + var_d/n_d) over the per-completion values, says how much
of a ranking is sampling noise: with few undesired completions, latents whose attribution swings between
completions (token-identity latents) can outrank a steady one by chance. Hence the default of 256 samples, and
``gap_in_se``: how many standard errors separate the top two.

The baseline ranks latents by activation difference: the same difference of means of the
latent's activation *summed over the same positions* (prompt + completion, BOS excluded).

All completions are right-padded into one batch (chunked by ``batch_tokens``): one forward pass and one backward
pass of the summed per-row metrics give every row's gradients at once, since rows do not interact.

    from tracer_tui.engine.contrast import contrast
    c = contrast(tracer, prompt, samples=64, rule=r"who cares|idiot")
    c.top(10); c.baseline(10); c.overlap(10); c.relabel({3: False}).top(10)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.defaults import (DEFAULT_CONTRAST_MODE, DEFAULT_MAX_TOKENS, DEFAULT_POSITIONS, DEFAULT_SAMPLES,
                             DEFAULT_SEED, DEFAULT_STOP, DEFAULT_TEMPERATURE, check_mode, check_positions,
                             check_samples)
from ..core.errors import Hint, TracerError, check_cancel
from .forward import site_recorder
from .labeling import Completion, as_completions, counts, label, read_completions_file
from .sampling import prompt_ids, sample_groups
from .sae_site import check_plain_saes

_LATENT_RE = re.compile(r"^(?P<site>[A-Za-z_][\w.]*):(?P<latent>\d+)$")
BATCH_TOKENS = 4096


def parse_latent(tracer, text: str):
    """'SITE:LATENT' -> (SiteSAE, latent index), with clear errors for malformed ids and unknown sites."""
    m = _LATENT_RE.match(str(text).strip())
    if not m:
        raise TracerError(f"malformed latent id {text!r}: expected SITE:LATENT, e.g. {tracer.sites[0]}:12")
    site = tracer.site_by_name.get(m["site"])
    if site is None:
        raise TracerError(f"unknown site {m['site']!r} in latent id {text!r}; sites: {', '.join(tracer.sites)}")
    latent = int(m["latent"])
    if not 0 <= latent < site.d_sae:
        raise TracerError(f"latent {latent} in {text!r} is outside 0..{site.d_sae - 1} (the SAE at {site.site})")
    return site, latent


@dataclass
class ContrastLatent:
    id: str
    site: str
    latent: int
    delta_attribution: float
    delta_se: float  # standard error of delta_attribution over the completions
    activation_difference: float
    label: str | None

    def to_json(self) -> dict:
        return {"id": self.id, "site": self.site, "latent": self.latent, "delta_attribution": self.delta_attribution,
                "delta_se": self.delta_se, "activation_difference": self.activation_difference, "label": self.label}


@dataclass(frozen=True)
class Focus:
    """Where a latent matters most for one completion, as a trace request: ``text`` is the prompt plus the
    completion's tokens before that point, ``target_id`` the completion's next token (predicted at the last
    position, ``position``, which counts the model's tokens of ``text``, BOS included)."""

    text: str
    position: int
    target_id: int
    attribution: float  # the latent's zero-ablation attribution at its strongest position, to the completion's log-prob


@dataclass
class CompletionBatch:
    """Per-completion results of the batched pass: [N, total latents] over all sites, concatenated."""

    attributions: object  # float64 cpu [N, T]
    activations: object  # float64 cpu [N, T], summed over positions
    errors: object  # float64 cpu [N, n_sites]: error-node attribution (zero mode), zeros in mean mode
    logprobs: list[float]  # the metric m_c of each completion


def completion_attributions(tracer, ids: list[int], completions_ids: list[list[int]],
                            mode: str = DEFAULT_CONTRAST_MODE, means: dict | None = None,
                            batch_tokens: int = BATCH_TOKENS, positions: str = DEFAULT_POSITIONS,
                            progress=None, should_cancel=None) -> CompletionBatch:
    """Attribution of every latent to each completion's summed log-prob (see module docstring)."""
    import torch

    check_mode(mode)
    check_positions(positions)
    if mode == "mean":
        missing = [s.site for s in tracer.saes if means is None or s.site not in means]
        if missing:
            raise TracerError(f"mean mode needs the mean activation of every site; missing: {', '.join(missing)}")
    adapter = tracer.adapter
    n_ctx = adapter.cfg.n_ctx
    longest = len(ids) + max((len(c) for c in completions_ids), default=0)
    if longest > n_ctx:
        raise TracerError(f"prompt + longest completion is {longest} tokens, more than the model's context of {n_ctx}")
    per_chunk = max(1, int(batch_tokens) // max(1, longest))
    n = len(completions_ids)
    parts = []
    for start in range(0, n, per_chunk):
        check_cancel(should_cancel)
        if progress:
            progress(f"attributing completions {start + 1}-{min(n, start + per_chunk)} of {n}", start / max(1, n))
        with torch.enable_grad():
            parts.append(_chunk(tracer, ids, completions_ids[start : start + per_chunk], mode, means, positions))
    check_cancel(should_cancel)
    if progress:
        progress("attribution done", 1.0)
    cat = [torch.cat(col) for col in zip(*[p[:3] for p in parts])]
    logprobs = [v for p in parts for v in p[3]]
    bad = [i for i, v in enumerate(logprobs) if v != v or abs(v) == float("inf")]
    if bad or not bool(torch.isfinite(cat[0]).all()):
        which = f"completion {bad[0]} has log-prob {logprobs[bad[0]]}" if bad else "an attribution is NaN or infinite"
        raise TracerError(f"contrast needs finite numbers: {which} under the model; drop or edit that completion")
    return CompletionBatch(*cat, logprobs=logprobs)


def _forward(tracer, ids, comps, saes, positions="all"):
    """One forward pass over prompt + completion rows, right-padded: (valid [B, L], {site: act}, metric [B]).

    ``valid`` marks the positions attributions are summed over; the metric is each row's completion log-prob.
    """
    import torch

    adapter = tracer.adapter
    device = adapter.device
    P = len(ids)
    L = P + max(1, max(len(c) for c in comps))
    B = len(comps)
    pad = adapter.eos_token_id if adapter.eos_token_id is not None else 0
    tokens = torch.full((B, L), pad, dtype=torch.long, device=device)
    valid = torch.zeros((B, L), dtype=torch.bool, device=device)  # positions attributed over
    for b, c in enumerate(comps):
        row = list(ids) + list(c)
        tokens[b, : len(row)] = torch.tensor(row, dtype=torch.long, device=device)
        valid[b, : len(row)] = True
    if adapter.prepends_bos:
        valid[:, 0] = False
    if positions == "prompt":
        valid[:, P:] = False
    elif positions == "completion":
        valid[:, :P] = False
    # Token t (t >= P) is predicted at position t - 1; padding predicts nothing.
    lengths = torch.tensor([len(c) for c in comps], device=device)
    lp_mask = torch.arange(L - P, device=device)[None] < lengths[:, None]

    acts: dict[str, object] = {}
    keep = site_recorder(acts)
    with adapter.hooks({s.site: keep for s in saes}):
        resid = adapter.run(tokens)
        lp = adapter.token_logprobs(resid, tokens, start=P - 1)
        metric = (lp * lp_mask).sum(1)  # [B]
    return valid, acts, metric


def _chunk(tracer, ids, comps, mode, means, positions="all"):
    """One forward and one backward pass over a right-padded batch of completions."""
    import torch

    device = tracer.adapter.device
    valid, acts, metric = _forward(tracer, ids, comps, tracer.saes, positions)
    B, L = valid.shape
    site_acts = [acts[s.site] for s in tracer.saes]
    grads = torch.autograd.grad(metric.sum(), site_acts, allow_unused=True)

    attr_parts, act_parts, err_parts = [], [], []
    with torch.no_grad():
        for sae, act, g in zip(tracer.saes, site_acts, grads):
            x = sae.flat(act.detach())  # [B, L, d_in]
            g = torch.zeros_like(x) if g is None else sae.flat(g)
            f = sae.encode(x)
            vmask = valid[..., None].to(f.dtype)
            act_parts.append((f * vmask).sum(1))
            if mode == "zero":
                err = x - sae.decode(f).to(x.dtype)
                err_parts.append(((err * g).sum(-1) * valid).sum(1))
                f2 = (f * vmask).reshape(B * L, -1)
                active = sae.active_rows(f2)
                pos_idx, lat_idx = active.pos_idx, active.lat_idx
                lg = sae.latent_grads(g.reshape(1, B * L, -1), f2, active)[0]
                contrib = f2[pos_idx, lat_idx] * lg.to(f2.dtype)
                out = torch.zeros((B, sae.d_sae), dtype=contrib.dtype, device=device)
                out.index_put_((pos_idx // L, lat_idx), contrib, accumulate=True)
                attr_parts.append(out)
            else:
                d_hat = sae.unit_directions(x.dtype)
                centred = x - means[sae.site].to(device=device, dtype=x.dtype)
                proj_g = g @ d_hat.T  # [B, L, d_sae]
                proj_a = centred @ d_hat.T
                attr_parts.append((proj_g * proj_a * valid[..., None].to(x.dtype)).sum(1))
                err_parts.append(torch.zeros(B, dtype=x.dtype, device=device))
    cpu = lambda ts: torch.cat([t.detach().to("cpu", torch.float64) for t in ts], dim=1)  # noqa: E731
    errs = torch.stack([e.detach().to("cpu", torch.float64) for e in err_parts], dim=1)
    return cpu(attr_parts), cpu(act_parts), errs, metric.detach().to("cpu", torch.float64).tolist()


def _token_ids(adapter, completion: Completion) -> list[int]:
    """The completion's tokens: as sampled when known, else its text encoded."""
    return list(completion.ids) if completion.ids is not None else adapter.encode_text(completion.text)


class Contrast:
    """Completions with labels, and every latent's per-completion attribution and activation.

    Labels can change without recomputing anything (``relabel``): Δ is a difference of means of stored rows.
    More completions (``extend``) cost only their own pass. ``means`` (mean mode) and ``positions`` are kept for it.
    """

    def __init__(self, tracer, prompt: str, mode: str, completions: list[Completion], batch: CompletionBatch,
                 means: dict | None = None, positions: str = "all"):
        self.tracer = tracer
        self.prompt = prompt
        self.mode = mode
        self.completions = list(completions)
        self.batch = batch
        self.means, self.positions = means, positions
        self._vectors = None  # (Δ, activation difference, se), computed once for these labels
        self.sites = [s.site for s in tracer.saes]
        self.offsets = []
        total = 0
        for s in tracer.saes:
            self.offsets.append(total)
            total += s.d_sae

    # ---- labels ------------------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        return counts(self.completions)

    def relabel(self, overrides: dict | None = None, rule=None, keywords=None) -> Contrast:
        """A new Contrast with relabelled completions (a rule relabels all, then overrides win). No recompute."""
        comps = self.completions
        if rule is not None or keywords is not None:
            comps = label(comps, rule=rule, keywords=keywords, keep_given=False)
        comps = label(comps, overrides=overrides)
        return Contrast(self.tracer, self.prompt, self.mode, comps, self.batch, self.means, self.positions)

    def extend(self, completions, progress=None, should_cancel=None) -> Contrast:
        """A new Contrast with ``completions`` (labelled as given) appended; only they are attributed."""
        import torch

        new = as_completions(completions)
        adapter = self.tracer.adapter
        batch = completion_attributions(self.tracer, prompt_ids(adapter, self.prompt),
                                        [_token_ids(adapter, c) for c in new], mode=self.mode, means=self.means,
                                        positions=self.positions, progress=progress, should_cancel=should_cancel)
        old = self.batch
        merged = CompletionBatch(torch.cat([old.attributions, batch.attributions]),
                                 torch.cat([old.activations, batch.activations]), torch.cat([old.errors, batch.errors]),
                                 logprobs=old.logprobs + batch.logprobs)
        return Contrast(self.tracer, self.prompt, self.mode, self.completions + new, merged, self.means,
                        self.positions)

    def _masks(self):
        import torch

        und = torch.tensor([c.undesired is True for c in self.completions])
        des = torch.tensor([c.undesired is False for c in self.completions])
        check_counts(int(und.sum()), int(des.sum()), len(self.completions))
        return und, des

    @staticmethod
    def _diff(rows, und, des):
        return rows[und].mean(0) - rows[des].mean(0)

    def _stats(self):
        """(Δ-attribution, activation difference, se of Δ) for these labels: computed on first use, then kept."""
        if self._vectors is None:
            und, des = self._masks()
            rows = self.batch.attributions

            def var_of_mean(m):
                n = int(m.sum())
                return rows[m].var(0, correction=1) / n if n > 1 else rows.new_zeros(rows.shape[1])

            self._vectors = (self._diff(rows, und, des), self._diff(self.batch.activations, und, des),
                             (var_of_mean(und) + var_of_mean(des)).sqrt())
        return self._vectors

    # ---- numbers -----------------------------------------------------------------------------
    def delta_attribution(self):
        """[T] Δ-attribution of every latent (all sites concatenated; see ``latent_id``)."""
        return self._stats()[0]

    def delta_se(self):
        """[T] standard error of Δ-attribution: sqrt(var_u / n_u + var_d / n_d), unbiased variances (0 for n = 1)."""
        return self._stats()[2]

    def activation_difference(self):
        """[T] mean over undesired minus desired of each latent's activation summed over positions."""
        return self._stats()[1]

    def error_delta(self) -> dict[str, float]:
        """Δ-attribution of each site's error nodes (what the SAE misses; zero in mean mode)."""
        d = self._diff(self.batch.errors, *self._masks())
        return dict(zip(self.sites, d.tolist()))

    def latent_id(self, flat: int) -> tuple[str, int]:
        import bisect

        s = bisect.bisect_right(self.offsets, int(flat)) - 1
        return self.sites[s], int(flat) - self.offsets[s]

    def flat_index(self, latent) -> int:
        site, i = parse_latent(self.tracer, latent) if isinstance(latent, str) else latent
        site_name = site if isinstance(site, str) else site.site
        return self.offsets[self.sites.index(site_name)] + int(i)

    def per_completion(self, latent) -> list[float]:
        """The latent's attribution to each completion's log-prob, in completion order."""
        return self.batch.attributions[:, self.flat_index(latent)].tolist()

    def focus(self, index: int, latent) -> Focus | None:
        """Where ``latent`` has its largest |attribution| to completion ``index``'s log-prob, as a trace request.

        The target is the completion token predicted at that position (the first one for a prompt position), so
        tracing it puts the latent among the root's direct drivers. None when the latent is inactive on the
        completion, or when the text before the target tokenizes differently (the positions would not line up).
        """
        import torch

        site, i = parse_latent(self.tracer, latent) if isinstance(latent, str) else latent
        comp = self.completions[int(index)]
        adapter = self.tracer.adapter
        ids = prompt_ids(adapter, self.prompt)
        cids = _token_ids(adapter, comp)
        if not cids:
            return None
        with torch.enable_grad():
            valid, acts, metric = _forward(self.tracer, ids, [cids], [site])
            act = acts[site.site]
            (g,) = torch.autograd.grad(metric.sum(), [act])
        with torch.no_grad():
            f = site.encode(site.flat(act.detach()))[0, :, i]
            per_pos = f * (site.flat(g)[0] @ site.decoder_rows([i])[0].to(g.dtype)).to(f.dtype)
            per_pos = per_pos * valid[0].to(f.dtype)
        p = int(per_pos.abs().argmax())
        if float(per_pos[p]) == 0.0:
            return None
        P = len(ids)
        k = min(max(p + 1 - P, 0), len(cids) - 1)  # completion tokens before the target
        text = self.prompt + (adapter.decode_ids(cids[:k]) if k else "")
        if [int(t) for t in adapter.tokenize(text)[0]] != ids + cids[:k]:
            return None
        return Focus(text, P + k - 1, int(cids[k]), float(per_pos[p]))

    def _latents(self, by: str, k: int) -> list[ContrastLatent]:
        delta, actdiff, se = self._stats()
        key = delta if by == "delta" else actdiff
        out = []
        for j in key.topk(_k(k, key)).indices.tolist():
            site, i = self.latent_id(j)
            out.append(ContrastLatent(f"{site}:{i}", site, i, float(delta[j]), float(se[j]), float(actdiff[j]),
                                      self.tracer.site_by_name[site].label(i)))
        return out

    def top(self, k: int = 20) -> list[ContrastLatent]:
        """The k latents with the largest Δ-attribution (most supportive of the undesired completions)."""
        return self._latents("delta", k)

    def baseline(self, k: int = 20) -> list[ContrastLatent]:
        """The k latents with the largest activation difference (the post's baseline)."""
        return self._latents("actdiff", k)

    def overlap(self, k: int = 20) -> int:
        return len({x.id for x in self.top(k)} & {x.id for x in self.baseline(k)})

    def to_json(self, k: int = 20) -> dict:
        base = self.baseline(k)  # checks k
        top = self.top(max(int(k), 2))  # two at least, for the gap between #1 and #2
        return {
            "prompt": self.prompt,
            "mode": self.mode,
            "completions": [{**c.to_json(), "logprob": lp} for c, lp in zip(self.completions, self.batch.logprobs)],
            "counts": self.counts,
            "latents": [x.to_json() for x in top[:k]],
            "baseline": [x.to_json() for x in base],
            "overlap": len({x.id for x in top[:k]} & {x.id for x in base}),
            "top_gap_in_se": gap_in_se(*top[:2]) if len(top) > 1 else None,
            "errors": self.error_delta() if self.mode == "zero" else None,
        }


def gap_in_se(a: ContrastLatent, b: ContrastLatent) -> float:
    """How many standard errors separate two latents' Δ: (Δa − Δb) / sqrt(se_a² + se_b²), inf if both se are 0."""
    se = (a.delta_se ** 2 + b.delta_se ** 2) ** 0.5
    gap = a.delta_attribution - b.delta_attribution
    return gap / se if se > 0 else (float("inf") if gap > 0 else 0.0)


def _k(k, values) -> int:
    if k is None or int(k) < 1:
        raise TracerError(f"top-K must be a positive number of latents, got {k}")
    return min(int(k), values.numel())


def check_counts(n_undesired: int, n_desired: int, n_total: int) -> None:
    if n_undesired and n_desired:
        return
    unl = n_total - n_undesired - n_desired
    extra = f" and {unl} unlabelled" if unl else ""
    missing = "undesired" if not n_undesired else "desired"
    raise TracerError(f"contrast needs at least one undesired and one desired completion; got {n_undesired} "
                      f"undesired, {n_desired} desired{extra} of {n_total}: no {missing} completions",
                      Hint(("rule", "labels", "samples")))


def contrast(tracer, prompt: str, completions=None, samples: int | None = None, rule=None, keywords=None,
             labels: dict | None = None, mode: str = DEFAULT_CONTRAST_MODE, means=None, means_text=None,
             temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = DEFAULT_MAX_TOKENS, seed: int = DEFAULT_SEED,
             stop=DEFAULT_STOP, batch_tokens: int = BATCH_TOKENS, positions: str = DEFAULT_POSITIONS, progress=None,
             should_cancel=None) -> Contrast:
    """Sample and/or take completions, label them, and attribute: returns a :class:`Contrast`.

    completions: texts, (text, undesired) pairs, dicts, Completions, or a path to a completions file. Explicit
    labels win over the rule; ``labels`` {index: bool|None} overrides both. ``samples`` completions are sampled
    in addition (DEFAULT_SAMPLES when no completions are given). Mean mode takes ``means`` {site: [d_in]} or finds
    them (bundle means.safetensors, else computed from ``means_text`` or the sample prompts, cached).
    """
    check_mode(mode)
    check_positions(positions)
    check_plain_saes(tracer.saes, "contrast")
    adapter = tracer.adapter
    ids = prompt_ids(adapter, prompt)
    report = progress or (lambda step, frac: None)
    given: list[Completion] = []
    if completions is not None:
        given = read_completions_file(completions) if isinstance(completions, (str, bytes)) or hasattr(
            completions, "__fspath__") else as_completions(completions)
    if samples is None:
        samples = 0 if given else DEFAULT_SAMPLES
    else:
        samples = check_samples(samples)
    if not given and not samples:
        raise TracerError("no completions: sample some (samples >= 1) or give them (a list or a file)")
    sampled = []
    if samples:
        sampled = sample_groups(adapter, ids, int(samples), max_tokens=max_tokens, temperature=temperature,
                                seed=seed, stop=stop, should_cancel=should_cancel,
                                progress=lambda s, f: report(s, 0.7 * f))[0]
    comps = label(given + sampled, rule=rule, keywords=keywords, overrides=labels)
    c = counts(comps)
    check_counts(c["undesired"], c["desired"], len(comps))
    if mode == "mean" and means is None:
        from .means import site_means

        means = site_means(tracer, text_file=means_text, progress=lambda s, f: report(s, 0.7 + 0.05 * f))
    comp_ids = [_token_ids(adapter, x) for x in comps]
    batch = completion_attributions(tracer, ids, comp_ids, mode=mode, means=means, batch_tokens=batch_tokens,
                                    positions=positions,
                                    should_cancel=should_cancel, progress=lambda s, f: report(s, 0.75 + 0.25 * f))
    return Contrast(tracer, prompt, mode, comps, batch, means, positions)
