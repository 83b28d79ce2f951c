"""Which token, at which position, under which metric: the root of every trace."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import Hint, TracerError

from ..core.defaults import METRICS


@dataclass
class TargetSpec:
    position: int
    id: int
    metric: str
    foil_id: int | None  # the token logit-diff subtracts (its "foil")


def token_id_for(adapter, text: str | None, token_id: int | None, what: str = "target") -> int | None:
    """A single vocabulary id from a token string or an id; several tokens or unknown ids are refused."""
    if token_id is not None:
        if not 0 <= int(token_id) < adapter.cfg.d_vocab:
            raise TracerError(f"{what} id {token_id} is not in the vocabulary (0..{adapter.cfg.d_vocab - 1})")
        return int(token_id)
    if text is None:
        return None
    if text == "":
        raise TracerError(f"empty {what} token: give a token such as ' Paris' (note the leading space)")
    ids = adapter.encode_text(text)
    if len(ids) != 1:
        pieces = " + ".join(repr(adapter.decode_token(i)) for i in ids)
        raise TracerError(f"{what} {text!r} is {len(ids)} tokens ({pieces}), not one; pick a single token, e.g. "
                          f"{adapter.decode_token(ids[0])!r}" if ids else f"{what} {text!r} encodes to no token")
    return ids[0]


def resolve_position(position: int | None, n_tokens: int) -> int:
    if position is None:
        return n_tokens - 1
    p = int(position)
    if p < 0:
        p += n_tokens
    if not 0 <= p < n_tokens:
        raise TracerError(f"position {position} is out of range: the prompt has {n_tokens} tokens (0..{n_tokens - 1})")
    return p


def resolve_target(adapter, tokens, position, target, target_id, metric, foil, foil_id,
                   top_prediction: int | None = None) -> TargetSpec:
    """tokens: [1, n]. When no target is given: the prompt's next token inside it, else the top prediction."""
    if metric not in METRICS:
        raise TracerError(f"unknown metric {metric!r}: use {', '.join(METRICS)}")
    n = tokens.shape[1]
    p = resolve_position(position, n)
    tid = token_id_for(adapter, target, target_id)
    if tid is None:
        if p < n - 1:
            tid = int(tokens[0, p + 1])
        elif top_prediction is not None:
            tid = int(top_prediction)
    cid = token_id_for(adapter, foil, foil_id, what="foil")
    if metric == "logit-diff":
        if cid is None:
            raise TracerError("metric logit-diff needs a foil token", Hint(("foil",)))
        if tid is not None and cid == tid:
            raise TracerError(f"foil token {adapter.decode_token(cid)!r} equals the target: logit-diff would be 0")
    return TargetSpec(position=p, id=tid, metric=metric, foil_id=cid)


def metric_from_logits(logits, spec: TargetSpec):
    """[batch, vocab] logits -> [batch] metric values."""
    import torch

    if logits.dtype in (torch.float16, torch.bfloat16):  # a softmax over the vocabulary needs float32
        logits = logits.float()
    if spec.metric == "logprob":
        return torch.log_softmax(logits, dim=-1)[:, spec.id]
    if spec.metric == "logit":
        return logits[:, spec.id]
    if spec.metric == "logit-mean":  # the target's logit minus the mean logit (docs/attribution.md, "Metrics")
        return logits[:, spec.id] - logits.mean(dim=-1)
    return logits[:, spec.id] - logits[:, spec.foil_id]
