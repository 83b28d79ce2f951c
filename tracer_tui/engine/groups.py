"""Group and mean ablations for the tree: which nodes one key ablates, and at which scale.

Every ablation is a scale of a latent's activation (``ablation.run_interventions``), so a mean ablation is the
scale ā/a that takes the latent from its activation a to its mean activation ā. The estimate the trace gives an
ablation, −(1 − scale)·A with A = a·g, is then (ā − a)·g: the same first-order estimate as a zero ablation's
−a·g, with the mean in place of 0.
"""

from __future__ import annotations

from ..core.errors import TracerError
from ..core.nodes import NodeId


def active_positions(trace, node) -> list[str]:
    """The latent of ``node`` at every position of the prompt where it is active (up to the target's)."""
    nid = trace.check_node(node)
    if nid.is_error:
        raise TracerError(f"{nid} is an error node: only a latent can be ablated at every position")
    profile = trace.activation_profile(nid)
    return [str(NodeId(nid.site, nid.latent, p)) for p, a in enumerate(profile)
            if a > 0 and p <= trace.target.position]


def latent_means(tracer, progress=None, should_cancel=None) -> dict:
    """{site: [d_sae]} each latent's mean activation over the sample prompts (the texts mean mode uses)."""
    from .means import compute_means, sample_prompt_texts

    texts = sample_prompt_texts()
    if not texts:
        raise TracerError("mean ablation needs texts to average over: no sample prompts are installed")
    return compute_means(tracer, texts, progress=progress, should_cancel=should_cancel, latents=True)


def mean_scales(trace, ids, means) -> dict[str, float]:
    """{node id: ā/a}: the scale that sets each latent to its mean activation ā in this prompt's run."""
    out = {}
    for node in ids:
        nid = trace.check_node(node)
        if nid.is_error:
            raise TracerError(f"{nid} is an error node: it has no mean activation (zero-ablate it with M off)")
        act = trace.activation_profile(nid)[nid.position]
        if act <= 0:
            raise TracerError(f"{nid} is not active here: there is nothing to move to its mean")
        out[str(nid)] = float(means[nid.site][nid.latent]) / act
    return out
