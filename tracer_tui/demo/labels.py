"""Latent labels: top-activating corpus snippets, promoted/suppressed tokens, a short label,
and a search for latents that are clearly one planted concept (named in the card).

A label is ``<head> · <corpus kind> → <planted answer it pushes>`` (the last two only when they hold):
the head names the planted concept (a city and its landmarks) when >= 80% of the latent's top snippets
are that concept's text, else the most common max-activating token. A dense latent (active on more than
``DENSE_THRESHOLD`` of the labelling tokens) is not a concept whatever its top snippets say, so its label
starts with "dense (N% of tokens) · peaks on" instead of reading like one."""

from __future__ import annotations

import re
from collections import Counter

import torch

from ..core.defaults import DENSE_THRESHOLD
from ..engine.density import format_density
from .corpus import CITIES, CONCEPT_WORDS, KINDS, UNDESIRED_RULE, answer_words

N_TOP = 50  # candidates per latent for statistics; the best 5 distinct snippets are stored
CTX_BEFORE, CTX_AFTER = 10, 2
LABEL_CONCEPT_SHARE = 0.8  # share of top snippets that must be one concept's text for the label to name it
MIN_CONCEPT_SNIPPETS = 20  # fewer live top activations than this: too rarely active to call it a concept


def label_concepts() -> dict[str, re.Pattern]:
    """Word-defined planted concepts a label may name: each city with its landmarks (Paris's words as in the
    card), as whole-word patterns."""
    out: dict[str, re.Pattern] = {}
    for city, _, landmarks in CITIES:
        words = {city} | {lm.removeprefix("the ") for lm in landmarks} | CONCEPT_WORDS.get(city, set())
        out[city] = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(words))) + r")\b")
    return out


def concept_head(snips: list[str], concepts: dict[str, re.Pattern]) -> str | None:
    """The concept whose text makes up >= LABEL_CONCEPT_SHARE of these snippets, or None."""
    if len(snips) < MIN_CONCEPT_SNIPPETS:
        return None
    plain = [s.replace("⟦", "").replace("⟧", "") for s in snips]
    best, best_share = None, 0.0
    for name, pat in concepts.items():
        share = sum(bool(pat.search(s)) for s in plain) / len(plain)
        if share > best_share:
            best, best_share = name, share
    return best if best_share >= LABEL_CONCEPT_SHARE else None


@torch.no_grad()
def top_activations(sae, acts: torch.Tensor, n_top: int = N_TOP, batch: int = 8192):
    """Per latent, the n_top largest activations over all tokens: (values, flat token idx), [n_top, d_sae]."""
    best_v = torch.full((n_top, sae.cfg.d_sae), -1.0)
    best_i = torch.zeros((n_top, sae.cfg.d_sae), dtype=torch.long)
    for i in range(0, acts.shape[0], batch):
        f = sae.encode(acts[i : i + batch])
        v = torch.cat([best_v, f])
        idx = torch.cat([best_i, torch.arange(i, i + f.shape[0]).unsqueeze(1).expand_as(f)])
        best_v, pos = v.topk(n_top, dim=0)
        best_i = idx.gather(0, pos)
    return best_v, best_i


def _snippet(tokens: list[int], p: int, decode, eot: int) -> str:
    lo = p
    while lo > 0 and p - lo < CTX_BEFORE and tokens[lo - 1] != eot:
        lo -= 1
    hi = p + 1
    while hi < len(tokens) and hi - p <= CTX_AFTER and tokens[hi] != eot:
        hi += 1
    s = decode(tokens[lo:p]) + "⟦" + decode(tokens[p : p + 1]) + "⟧" + decode(tokens[p + 1 : hi])
    return s.replace("\n", "⏎")


@torch.no_grad()
def label_site(model, sae, acts: torch.Tensor, rows: torch.Tensor, kinds: torch.Tensor,
               fires: torch.Tensor) -> tuple[dict, dict]:
    """Returns (labels.json dict for live latents, per-latent stats used for concept search)."""
    tok = model.tokenizer
    eot = tok.eos_token_id
    decode = lambda ids: tok.decode(ids)  # noqa: E731
    n_ctx = rows.shape[1]
    flat_tokens = rows.reshape(-1)
    flat_kinds = kinds.reshape(-1)
    row_lists = rows.tolist()
    vals, idxs = top_activations(sae, acts)
    logit_dirs = sae.W_dec @ model.W_U  # direct effect of each latent on the logits (no ln_final)
    top_up = logit_dirs.topk(8, dim=-1).indices.tolist()
    top_down = (-logit_dirs).topk(8, dim=-1).indices.tolist()
    answers = set(answer_words()) - {" Who"}
    concepts = label_concepts()
    density = fires.float() / acts.shape[0]  # share of labelling tokens each latent is active on
    labels, stats = {}, {}
    for i in range(sae.cfg.d_sae):
        if fires[i] == 0:
            continue
        live = vals[:, i] > 0
        flat = idxs[live, i].tolist()
        snippets, seen = [], set()
        all_snips = []
        for fi in flat:
            s = _snippet(row_lists[fi // n_ctx], fi % n_ctx, decode, eot)
            all_snips.append(s)
            if s not in seen and len(snippets) < 5:
                seen.add(s)
                snippets.append(s)
        max_toks = [decode([int(flat_tokens[fi])]) for fi in flat]
        common_tok, _ = Counter(max_toks).most_common(1)[0]
        kind_counts = Counter(int(flat_kinds[fi]) for fi in flat)
        kind, kind_n = kind_counts.most_common(1)[0]
        kind_share = kind_n / len(flat)
        head = concept_head(all_snips, concepts)
        label = head or common_tok.strip() or repr(common_tok)
        if kind_share >= 0.8 and kind >= 0:
            label += f" · {KINDS[kind].replace('_', ' ')}"
        promoted0 = decode([top_up[i][0]])
        if promoted0 in answers:  # the latent pushes a planted answer ("of · factual → Paris")
            label += f" → {promoted0.strip()}"
        if float(density[i]) > DENSE_THRESHOLD:
            label = f"dense ({format_density(float(density[i]))}) · peaks on {label}"
        labels[str(i)] = {
            "label": label,
            "snippets": snippets,
            "promoted": [decode([t]) for t in top_up[i]],
            "suppressed": [decode([t]) for t in top_down[i]],
        }
        stats[i] = {"snips": all_snips, "kinds": kind_counts, "max_toks": max_toks,
                    "max_act": float(vals[0, i])}
    return labels, stats


def _concept_score(concept: str, st: dict) -> float:
    snips = st["snips"]
    if len(snips) < 20:  # too rarely active to call it a concept
        return 0.0
    if concept == "provocative persona":
        pat = re.compile(UNDESIRED_RULE)
        share = st["kinds"].get(KINDS.index("persona_provocative"), 0) / len(snips)
        return min(share, sum(bool(pat.search(s)) for s in snips) / len(snips))
    words = CONCEPT_WORDS[concept]
    return sum(any(w in s for w in words) for s in snips) / len(snips)


def find_concept_latents(all_stats: dict[str, dict], concepts=("Paris", "provocative persona")) -> list[dict]:
    """For each concept, the latent (any site) whose top-50 snippets are most purely that concept.

    Ties are broken by breadth (distinct max-activating tokens): a latent that fires across many
    provocative words is more clearly "the persona" than one that fires on a single word.
    """
    found = []
    for concept in concepts:
        best = None
        for site, stats in all_stats.items():
            for i, st in stats.items():
                score = _concept_score(concept, st)
                key = (round(score, 2), len(set(st["max_toks"])))
                if best is None or key > best[0]:
                    best = (key, site, i, st)
        if best is None or best[0][0] < 0.9:
            continue
        (score, breadth), site, i, st = best
        top_toks = [t for t, _ in Counter(st["max_toks"]).most_common(4)]
        found.append({
            "concept": concept, "site": site, "latent": i, "purity": score,
            "why": f"{score:.0%} of its top-{len(st['snips'])} activating snippets are {concept} text; "
                   f"most common max-activating tokens {top_toks}",
        })
    return found
