"""The engine's front door: a loaded model with its SAEs, ready to trace prompts.

    from tracer_tui.engine import Tracer
    tracer = Tracer.load()                        # the bundled demo model and SAEs
    t = tracer.trace("The Eiffel Tower is in the city of")
"""

from __future__ import annotations

from ..core.defaults import DEFAULT_METRIC, DEFAULT_TOP_K, DEFAULT_UPSTREAM, UPSTREAM_MODES
from ..core.errors import TracerError, check_cancel
from .forward import clean_run
from .model_adapter import ModelAdapter
from .checks import check_length, check_prompt, check_top_k
from .sae_site import SiteSAE, check_inputs, model_warnings
from .target import resolve_target


class Tracer:
    def __init__(self, adapter: ModelAdapter, saes: list[SiteSAE]):
        if not saes:
            raise TracerError("no SAEs: attribution needs at least one SAE")
        self.adapter = adapter
        check_inputs(adapter, saes)  # transcoders' input hooks (their output sites are checked with the rest)
        self.saes = sorted(saes, key=lambda s: adapter.order_key(s.site))
        self.site_by_name = {s.site: s for s in self.saes}
        # One-line warnings about a setup that loads but may mislead (e.g. an SAE trained on another model).
        self.warnings: list[str] = [w for s in self.saes for w in model_warnings(s, adapter.cfg.model_name)]

    @classmethod
    def load(cls, model: str | None = None, saes=(), device: str = "auto", dtype: str = "float32", progress=None,
             labels=()):
        """Load by TransformerLens name or bundle dir, SAEs by RELEASE[/ID] or directory. None: the demo.

        ``labels``: Neuronpedia explanation exports (files), applied to the SAEs with a matching neuronpedia_id.
        """
        from .loading import load_all
        from .neuronpedia import apply_exports, read_exports

        exports = read_exports(labels)  # a malformed file fails before the model loads
        tracer = cls(*load_all(model, saes, device=device, dtype=dtype, progress=progress))
        tracer.warnings.extend(apply_exports(exports, tracer.saes))
        return tracer

    @classmethod
    def from_models(cls, model, saes, source: str = "in-memory"):
        """Wrap an already-built HookedTransformer and SAE-Lens SAEs (notebooks, tests)."""
        from .loading import check_fit

        adapter = ModelAdapter(model, source=source)
        sites = [SiteSAE(s, site=s.cfg.metadata.hook_name, source=source) for s in saes]
        check_fit(adapter, sites)
        return cls(adapter, sites)

    @property
    def sites(self) -> list[str]:
        return [s.site for s in self.saes]

    def info(self) -> dict:
        return {
            "model": self.adapter.info().to_json(),
            "saes": [{"site": s.site, "d_sae": s.d_sae, "d_in": s.d_in, "source": s.source,
                      "neuronpedia": s.neuronpedia_id, "labels": len(s.labels)} for s in self.saes],
        }

    def fetch_labels(self, node_ids, timeout: float | None = None) -> dict[str, str]:
        """Neuronpedia labels for the latents among ``node_ids`` that have none yet (SAEs with a neuronpedia_id
        only): {node id: label}, also stored in the SAEs' labels. Each latent is asked once, cached on disk
        (data_dir()/neuronpedia); nothing is fetched while offline (HF_HUB_OFFLINE)."""
        from . import neuronpedia

        return neuronpedia.fetch_labels(self.saes, node_ids,
                                        neuronpedia.TIMEOUT_S if timeout is None else timeout)

    def tokenize(self, prompt: str | list[int]) -> list[str]:
        check_prompt(prompt)
        return self.adapter.str_tokens(self.adapter.tokenize(prompt)[0])

    def trace(self, prompt: str | list[int], target: str | None = None, target_id: int | None = None,
              position: int | None = None, metric: str = DEFAULT_METRIC, foil: str | None = None,
              foil_id: int | None = None, top_k: int = DEFAULT_TOP_K, min_attr: float = 0.0,
              include_bos: bool = False, should_cancel=None, upstream: str = DEFAULT_UPSTREAM):
        """Root attribution of ``target`` at ``position``: one forward and one backward pass for all sites.

        ``upstream`` picks where children come from: "nearest" (the nearest upstream level) or "all" (every
        upstream site pooled); see docs/attribution.md, "Levels".
        """
        import torch

        from .trace import Trace

        if upstream not in UPSTREAM_MODES:
            raise TracerError(f"unknown upstream mode {upstream!r}: use {', '.join(UPSTREAM_MODES)}")
        check_prompt(prompt)
        check_top_k(top_k, min_attr)
        tokens = self.adapter.tokenize(prompt)
        check_length(tokens.shape[1], self.adapter.cfg.n_ctx)
        # Validate everything the user typed before spending a forward pass.
        spec = resolve_target(self.adapter, tokens, position, target, target_id, metric, foil, foil_id,
                              top_prediction=-1)
        check_cancel(should_cancel)
        clean = clean_run(self.adapter, self.saes, tokens, spec.position)
        check_cancel(should_cancel)
        if spec.id == -1:
            spec.id = int(clean.logits[0].argmax())
            if spec.foil_id == spec.id:
                raise TracerError("foil token equals the model's top prediction (the target): pick another")
        with torch.enable_grad():
            # BOS-position nodes are dropped by default: BOS is prepended to text prompts, never to token ids.
            bos_first = isinstance(prompt, str) and self.adapter.prepends_bos
            text = prompt if isinstance(prompt, str) else "".join(self.adapter.str_tokens(tokens[0]))
            result = Trace(self, text, clean, spec, include_bos=include_bos or not bos_first, top_k=top_k,
                           min_attr=min_attr, upstream=upstream)
        check_cancel(should_cancel)
        return result

    def contrast(self, prompt: str, **kwargs):
        """Δ-attribution over sampled or given completions (see engine.contrast.contrast)."""
        from .contrast import contrast

        return contrast(self, prompt, **kwargs)

    def steer(self, prompt: str, latent: str, **kwargs):
        """Steering validation of one latent against unsteered and random latents (see engine.steering.steer)."""
        from .steering import steer

        return steer(self, prompt, latent, **kwargs)
