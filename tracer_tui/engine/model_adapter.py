"""Everything model-specific lives here: the rest of the engine never touches a HookedTransformer directly.

TransformerLens 3 deprecates HookedTransformer in favour of TransformerBridge; swapping the backend means
rewriting this one class.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

from ..core.errors import TracerError
from ..core.nodes import site_layer, site_order_key


@dataclass
class ModelInfo:
    name: str
    source: str  # a TransformerLens name, or a local path
    n_layers: int
    d_model: int
    d_vocab: int
    n_ctx: int
    device: str
    dtype: str

    def to_json(self) -> dict:
        return {"name": self.name, "source": self.source, "layers": self.n_layers, "d_model": self.d_model,
                "vocab": self.d_vocab, "n_ctx": self.n_ctx, "device": self.device, "dtype": self.dtype}


class ModelAdapter:
    def __init__(self, model, source: str):
        import torch

        self.model = model.eval()
        self.model.requires_grad_(False)  # gradients are taken w.r.t. activations only
        self.source = source
        self.cfg = model.cfg
        self.n_layers = model.cfg.n_layers
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._torch = torch
        self._tokenizer_lock = threading.RLock()  # HF fast tokenizers are not safe to share across threads

    # ---- description -------------------------------------------------------------------------
    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.cfg.model_name, source=self.source, n_layers=self.n_layers, d_model=self.cfg.d_model,
            d_vocab=self.cfg.d_vocab, n_ctx=self.cfg.n_ctx, device=str(self.device),
            dtype=str(self.dtype).replace("torch.", ""),
        )

    def has_hook(self, site: str) -> bool:
        return site in self.model.hook_dict

    def layer(self, site: str) -> int:
        return site_layer(site, self.n_layers)

    def order_key(self, site: str):
        return site_order_key(site, self.n_layers)

    def hook_widths(self, sites: list[str]) -> dict[str, int]:
        """Flattened activation width at each site, from one forward pass over a single token."""
        widths: dict[str, int] = {}
        calls: dict[str, int] = {}

        def grab(act, hook):
            widths[hook.name] = act[0, 0].numel()
            calls[hook.name] = calls.get(hook.name, 0) + 1

        tokens = self._torch.zeros((1, 1), dtype=self._torch.long, device=self.device)
        with self._torch.inference_mode(), self.hooks({s: grab for s in sites}):
            self.logits_at(self.run(tokens), 0, all_positions=True)
        for site in sites:
            if site not in widths:
                raise TracerError(f"hook {site} never fires on this model: {self.silent_hook_reason(site)}")
            if calls[site] > 1:
                raise TracerError(f"hook {site} fires {calls[site]} times per forward pass on this model (e.g. ln1 "
                                  "normalises queries, keys and values separately): an SAE there is not supported")
        return widths

    def silent_hook_reason(self, site: str) -> str:
        """Why a hook point that exists in the model is never called in its forward pass."""
        cfg = self.cfg
        if site.endswith("hook_mlp_in") and not cfg.use_hook_mlp_in:
            return "it needs use_hook_mlp_in (model.set_use_hook_mlp_in(True)), which is off"
        if site.endswith("hook_attn_in") and not cfg.use_attn_in:
            return "it needs use_attn_in (model.set_use_attn_in(True)), which is off"
        if site.endswith(("hook_q_input", "hook_k_input", "hook_v_input")) and not cfg.use_split_qkv_input:
            return "it needs use_split_qkv_input (model.set_use_split_qkv_input(True)), which is off"
        if site.endswith("attn.hook_result") and not cfg.use_attn_result:
            return "it needs use_attn_result (model.set_use_attn_result(True)), which is off"
        if ("mlp" in site or "ln2" in site) and cfg.attn_only:
            return "the model is attention-only (no MLP)"
        if site.endswith("hook_resid_mid") and (cfg.parallel_attn_mlp or cfg.attn_only):
            return "the block has no residual stream between attention and MLP (parallel or attention-only)"
        return "the model's configuration never calls it"

    # ---- tokens ------------------------------------------------------------------------------
    @property
    def prepends_bos(self) -> bool:
        return bool(self.cfg.default_prepend_bos)

    def tokenize(self, prompt: str | list[int]):
        """Token ids [1, n] of a prompt; a list of ids is taken as already tokenized (BOS is not added)."""
        if not isinstance(prompt, str):
            ids = [int(i) for i in prompt]
            bad = [i for i in ids if not 0 <= i < self.cfg.d_vocab]
            if bad:
                raise TracerError(f"token id {bad[0]} is not in the vocabulary (0..{self.cfg.d_vocab - 1})")
            return self._torch.tensor([ids], dtype=self._torch.long, device=self.device)
        self._need_tokenizer()
        with self._tokenizer_lock:
            return self.model.to_tokens(prompt, prepend_bos=self.prepends_bos, truncate=False).to(self.device)

    def str_tokens(self, tokens) -> list[str]:
        return [self.decode_token(int(t)) for t in tokens.reshape(-1)]

    def decode_token(self, token_id: int) -> str:
        if self.model.tokenizer is None:
            return f"<{int(token_id)}>"
        with self._tokenizer_lock:
            return self.model.tokenizer.decode([int(token_id)])

    def encode_text(self, text: str) -> list[int]:
        self._need_tokenizer()
        with self._tokenizer_lock:
            return list(self.model.tokenizer.encode(text, add_special_tokens=False))

    def _need_tokenizer(self) -> None:
        if self.model.tokenizer is None:
            raise TracerError(f"model {self.source!r} has no tokenizer: pass token ids, or give the bundle a "
                              "tokenizer/ directory")

    # ---- forward -----------------------------------------------------------------------------
    def hooks(self, fns: dict):
        """Context manager installing forward hooks ``fn(act, hook) -> act | None`` by hook name."""
        if not fns:
            return contextlib.nullcontext()
        return self.model.hooks(fwd_hooks=list(fns.items()))

    def run(self, tokens, start_layer: int | None = None, start_resid=None):
        """Residual stream after the last block, shape [batch, pos, d_model]. Optionally resume at a block."""
        if start_layer is not None and start_layer > 0 and self.can_resume:
            return self.model(start_resid, start_at_layer=start_layer, stop_at_layer=self.n_layers, tokens=tokens)
        return self.model(tokens, stop_at_layer=self.n_layers)

    @property
    def can_resume(self) -> bool:
        return self.cfg.positional_embedding_type != "shortformer"

    def _logits(self, resid, at_least_float32: bool = False):
        """Logits of residual-stream vectors [..., d_model] as the model computes them: final norm, unembedding,
        soft-cap (Gemma 2). ``at_least_float32`` widens half precision before the soft-cap."""
        x = self.model.ln_final(resid) if self.cfg.normalization_type is not None else resid
        return self._unembed(x, at_least_float32)

    def _unembed(self, x, at_least_float32: bool = False):
        """Logits of final-normed vectors: unembedding and soft-cap (Gemma 2)."""
        # x @ W_U directly: TransformerLens' Unembed copies W_U (vocab x d_model) on every call.
        logits = x @ self.model.W_U + self.model.b_U
        if at_least_float32:
            logits = logits.to(self._torch.promote_types(logits.dtype, self._torch.float32))
        cap = getattr(self.cfg, "output_logits_soft_cap", -1.0) or -1.0
        if cap > 0:
            logits = cap * self._torch.tanh(logits / cap)
        return logits

    def logits_at(self, resid, position: int, all_positions: bool = False):
        """Logits at one position only ([batch, vocab]): no full [pos x vocab] unembed.

        ``all_positions`` runs the final norm over every position first (then unembeds one), so hooks after the
        last block (ln_final.*) see the whole sequence at its own positions.
        """
        if all_positions and self.cfg.normalization_type is not None:
            x = self.model.ln_final(resid)[:, position : position + 1]
            return self._unembed(x)[:, 0]
        return self._logits(resid[:, position : position + 1])[:, 0]

    def reads_final(self, sites) -> bool:
        """Does any of these hook names sit after the last block (ln_final.*)?"""
        return any(self.layer(s) >= self.n_layers for s in sites)

    def unembed_directions(self, vectors):
        """Logit effect of residual-stream directions (decoder rows) through W_U, ignoring ln_final's scale."""
        return vectors @ self.model.W_U

    def token_logprobs(self, resid, tokens, start: int = 0):
        """log p(tokens[:, t + 1] | tokens[:, :t + 1]) for t = start .. pos - 2: [batch, pos - 1 - start].

        Unembeds only positions start .. pos - 2 (e.g. a completion's, not the whole prompt's); computed in
        float32 or wider.
        """
        logits = self._logits(resid[:, start:-1], at_least_float32=True)
        return self._torch.log_softmax(logits, -1).gather(-1, tokens[:, start + 1 :, None])[..., 0]

    @property
    def eos_token_id(self) -> int | None:
        return None if self.model.tokenizer is None else self.model.tokenizer.eos_token_id

    def decode_ids(self, ids) -> str:
        """Text of a list of token ids (a whole completion, decoded together)."""
        self._need_tokenizer()
        with self._tokenizer_lock:
            return self.model.tokenizer.decode([int(i) for i in ids])

    def fingerprint(self) -> list:
        """A cheap identity for caches: the source plus sums of the embedding weights (in-memory models)."""
        with self._torch.no_grad():
            w = self.model.W_E.double()
            return [self.source, self.cfg.model_name, float(w.sum()), float(w.abs().sum())]

    def kv_cache(self, batch: int):
        """A fresh key/value cache for incremental decoding of ``batch`` rows (see ``next_logits``)."""
        from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

        return TransformerLensKeyValueCache.init_cache(self.cfg, self.device, batch)

    def next_logits(self, tokens, cache=None):
        """Logits [batch, vocab] after the last token. With a KV cache, pass only the tokens it has not seen yet;
        every token is attended to (no pad masking: right-padding is the caller's business)."""
        if cache is None:
            resid = self.run(tokens)
        else:
            mask = self._torch.ones_like(tokens)
            resid = self.model(tokens, past_kv_cache=cache, attention_mask=mask, stop_at_layer=self.n_layers)
        return self.logits_at(resid, resid.shape[1] - 1)
