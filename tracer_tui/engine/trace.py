"""A traced prompt: the root attribution, and everything explored from it (expand, ablate, verify, graph).

A Trace keeps the clean forward graph alive, so expanding nodes costs one batched backward pass and no
new forward pass. Calls are serialised by a lock: the TUI may call from several worker threads.
"""

from __future__ import annotations

import math
import threading

from .ablation import run_interventions
from .attribution import candidate_table, rank, scores, site_grads
from .checks import check_top_k
from ..core.defaults import DEFAULT_TOP_K, DEFAULT_UPSTREAM, EXPAND_MEMORY_BYTES, UPSTREAM_MODES, VERIFY_CHUNK
from ..core.errors import TracerError, check_cancel
from ..core.nodes import (TARGET, AblationResult, Intervention, Node, NodeId, Prediction, Target, VerifyPair,
                          VerifyResult, is_residual_site)
from .target import metric_from_logits


class Trace:
    def __init__(self, tracer, prompt: str, clean, spec, include_bos: bool, top_k: int, min_attr: float,
                 upstream: str = DEFAULT_UPSTREAM):
        import torch

        if upstream not in UPSTREAM_MODES:
            raise TracerError(f"unknown upstream mode {upstream!r}: use {', '.join(UPSTREAM_MODES)}")
        self.upstream = upstream

        self.tracer = tracer
        self.prompt = prompt
        self.spec = spec
        self.include_bos = include_bos
        self._clean = clean
        self._lock = threading.RLock()
        adapter = tracer.adapter
        self.token_ids = [int(t) for t in clean.tokens[0]]
        self.tokens = adapter.str_tokens(clean.tokens[0])
        self._site_index = {s.site: i for i, s in enumerate(tracer.saes)}
        self._cand = candidate_table(clean.sites)
        # Each site's columns in the candidate table: its active latents, then one error node per position.
        ends = torch.cumsum(torch.tensor([st.pos_idx.numel() + st.err.shape[0] for st in clean.sites]), 0).tolist()
        self._site_cols = [(end - (st.pos_idx.numel() + st.err.shape[0]), end) for st, end in zip(clean.sites, ends)]
        self._cand_index = None

        metric = metric_from_logits(clean.logits, spec)
        with torch.no_grad():
            probs = torch.softmax(clean.logits.detach().float(), -1)[0]
        self.clean_value = float(metric.detach()[0])
        self.target = Target(
            token=adapter.decode_token(spec.id), id=spec.id, position=spec.position, metric=spec.metric,
            value=self.clean_value, prob=float(probs[spec.id]),
            foil=adapter.decode_token(spec.foil_id) if spec.foil_id is not None else None,
            foil_id=spec.foil_id,
        )
        self.top_predictions = _predictions(adapter, probs)
        with torch.enable_grad():
            grads = site_grads(metric, [st.act for st in clean.sites])
        self._root_scores = scores(tracer.saes, clean.sites, grads)[0].detach()
        self.children: dict[str, list[Node]] = {}
        self.totals: dict[str, int] = {}  # parent -> number of eligible nodes (for "... N more")
        self.abs_totals: dict[str, float] = {}  # parent -> sum of |attribution| over them (for shares)
        self.verified: dict[str, VerifyResult] = {}  # parent -> its latest verify result
        self.nodes = self.more(TARGET, top_k, 0, min_attr)

    # ---- levels and ranking --------------------------------------------------------------------
    def _level_sites(self, site_index: int) -> list[int]:
        """Site indices a node at ``site_index`` draws its children from (len(saes) for the target).

        "nearest": walking back from the node, every site up to and including the first residual-stream site
        (so the non-residual sites between it and the node come along); all of them when there is none.
        "all": every site before the node. See docs/attribution.md, "Levels".
        """
        site_index = self._read_index(site_index)
        if self.upstream == "all":
            return list(range(site_index))
        out = []
        for i in range(site_index - 1, -1, -1):
            out.append(i)
            if is_residual_site(self.tracer.saes[i].site):
                break
        return out[::-1]

    def _read_index(self, site_index: int) -> int:
        """A transcoder's latents read its input hook: only sites up to that hook are upstream of them."""
        saes = self.tracer.saes
        if site_index >= len(saes) or saes[site_index].input_site == saes[site_index].site:
            return site_index
        key = self.tracer.adapter.order_key(saes[site_index].input_site)
        return sum(1 for s in saes[:site_index] if self.tracer.adapter.order_key(s.site) <= key)

    def level_sites(self, parent: str = TARGET) -> list[str]:
        """Names of the sites ``parent``'s children come from ("target" or a latent id), in forward order."""
        parent = str(parent)
        s_idx = len(self.tracer.saes) if parent == TARGET else self._site_index[self.check_node(parent).site]
        return [self.tracer.saes[i].site for i in self._level_sites(s_idx)]

    def _allowed(self, levels: list[list[int]], max_pos: list[int]):
        import torch

        c = self._cand
        dev = c.pos.device
        mask = torch.zeros((len(levels), len(self.tracer.saes)), dtype=torch.bool)
        for b, level in enumerate(levels):
            mask[b, level] = True
        allowed = mask.to(dev)[:, c.site] & (c.pos[None] <= torch.tensor(max_pos, device=dev)[:, None])
        if not self.include_bos:
            allowed &= (c.pos != 0)[None]
        return allowed

    def _level(self, parent_ids, attr, levels, max_pos, top_k, offset, min_attr):
        check_top_k(top_k, min_attr)
        parents = [parent_ids] if isinstance(parent_ids, str) else list(parent_ids)
        rows, totals, abs_totals = rank(attr, self._allowed(levels, max_pos), int(top_k), int(offset),
                                        float(min_attr))
        out = []
        for b, (parent, idx) in enumerate(zip(parents, rows)):
            nodes = [self._node(i, parent, float(attr[b, i])) for i in idx]
            known = self.children.get(parent, []) if offset else []
            self.children[parent] = known + nodes
            self.totals[parent] = totals[b]
            self.abs_totals[parent] = abs_totals[b]
            out.append(nodes)
        return out

    def _node(self, c: int, parent: str, attribution: float) -> Node:
        cand = self._cand
        site = self.tracer.saes[int(cand.site[c])]
        latent = int(cand.latent[c])
        nid = NodeId(site.site, None if latent < 0 else latent, int(cand.pos[c]))
        return Node(id=nid, parent=parent, layer=self.tracer.adapter.layer(site.site), token=self.tokens[nid.position],
                    activation=float(cand.activation[c]), attribution=attribution, label=site.label(nid.latent))

    def _index_of(self, nid: NodeId) -> int | None:
        if self._cand_index is None:
            c = self._cand
            self._cand_index = {key: i for i, key in enumerate(zip(c.site.tolist(), c.pos.tolist(), c.latent.tolist()))}
        key = (self._site_index[nid.site], nid.position, -1 if nid.latent is None else nid.latent)
        return self._cand_index.get(key)

    def has_upstream(self, node) -> bool:
        """Can ``node`` be expanded: a latent with SAE sites before its own (the first site's have none)."""
        nid = NodeId.parse(node)
        return not nid.is_error and self._site_index.get(nid.site, 0) > 0

    def check_node(self, node) -> NodeId:
        """Parse and validate a node id against this trace's sites and positions."""
        nid = NodeId.parse(node)
        if nid.site not in self._site_index:
            raise TracerError(f"unknown node {str(nid)!r}: no SAE on site {nid.site!r}; sites: "
                              f"{', '.join(self._site_index)}")
        if nid.position >= len(self.tokens):
            raise TracerError(f"unknown node {str(nid)!r}: position {nid.position} is past the target position "
                              f"{self.target.position}")
        d_sae = self.tracer.saes[self._site_index[nid.site]].d_sae
        if nid.latent is not None and not 0 <= nid.latent < d_sae:
            raise TracerError(f"unknown node {str(nid)!r}: latent {nid.latent} is outside 0..{d_sae - 1}")
        return nid

    # ---- public API ----------------------------------------------------------------------------
    def root_attribution(self, node) -> float:
        """The node's attribution to the target metric (0 for an inactive latent)."""
        i = self._index_of(self.check_node(node))
        return 0.0 if i is None else float(self._root_scores[i])

    def activation(self, node) -> float:
        nid = self.check_node(node)
        i = self._index_of(nid)
        return 0.0 if i is None else float(self._cand.activation[i])

    def more(self, parent: str, top_k: int = DEFAULT_TOP_K, offset: int | None = None, min_attr: float = 0.0) -> list[Node]:
        """A page of ``parent``'s children ("target" or a latent id); ``offset`` defaults to those loaded."""
        parent = str(parent)
        if offset is None:
            offset = len(self.children.get(parent, []))
        if parent != TARGET:
            return self.expand([parent], top_k, offset, min_attr)[parent]
        with self._lock:
            return self._level(TARGET, self._root_scores[None], [self._level_sites(len(self.tracer.saes))],
                               [self.spec.position], top_k, offset, min_attr)[0]

    def expand(self, nodes, top_k: int = DEFAULT_TOP_K, offset: int = 0, min_attr: float = 0.0,
               should_cancel=None, progress=None) -> dict[str, list[Node]]:
        """Top upstream nodes of each given latent, its activation being the metric.

        Nodes run in chunks of one site each, sized so a chunk's working memory fits ``EXPAND_MEMORY_BYTES``
        (``chunk_size``), one batched backward pass per chunk: memory stays flat whatever the number of nodes.
        ``should_cancel`` is checked before each chunk (the chunks done keep their children) and
        ``progress(done, total)`` is called after each.
        """
        ids = [self.check_node(n) for n in ([nodes] if isinstance(nodes, (str, NodeId)) else nodes)]
        ids = list(dict.fromkeys(ids))  # a node listed twice is expanded once
        for nid in ids:
            if nid.is_error:
                raise TracerError(f"cannot expand error node {str(nid)!r}: only latents have upstream drivers")
        check_top_k(top_k, min_attr)
        by_site: dict[int, list[NodeId]] = {}
        for nid in ids:
            by_site.setdefault(self._site_index[nid.site], []).append(nid)
        chunks = [group[i : i + self.chunk_size(s)] for s, group in sorted(by_site.items())
                  for i in range(0, len(group), self.chunk_size(s))]
        out: dict[str, list[Node]] = {}
        with self._lock:
            for chunk in chunks:
                check_cancel(should_cancel)
                out.update(self._expand_chunk(chunk, top_k, offset, min_attr))
                if progress is not None:
                    progress(len(out), len(ids))
        return {str(n): out[str(n)] for n in ids}

    def chunk_size(self, site_index: int) -> int:
        """How many nodes at ``site_index`` one batched expansion takes within ``EXPAND_MEMORY_BYTES``.

        Per node, the batched backward pass holds: a cotangent at the node's input, a gradient at each site of its
        level, the backward pass's temporaries in every layer between them (residual stream, MLP hidden and
        attention patterns at every position), and the node's row of attributions, mask and magnitudes over all
        candidates.
        """
        sites, cfg = self._clean.sites, self.tracer.adapter.cfg
        level = self._level_sites(site_index)
        act_in = sites[site_index].act_in
        elements = act_in[0].numel() + sum(sites[i].act[0].numel() for i in level) + 3 * self._cand.site.numel()
        if level:
            layer = self.tracer.adapter.layer
            n_layers = layer(self.tracer.saes[site_index].site) - layer(self.tracer.saes[level[0]].site) + 1
            n_pos = act_in.shape[1]
            per_layer = n_pos * (6 * cfg.d_model + 2 * (cfg.d_mlp or 0) + 2 * cfg.n_heads * n_pos)
            elements += n_layers * per_layer
        return max(1, EXPAND_MEMORY_BYTES // (elements * act_in.element_size()))

    def _expand_chunk(self, ids: list[NodeId], top_k: int, offset: int, min_attr: float) -> dict[str, list[Node]]:
        """Expand nodes of one site: one batched backward pass, from each node's input row to its level's sites."""
        import torch

        s_idx = self._site_index[ids[0].site]
        level = self._level_sites(s_idx)
        st = self._clean.sites[s_idx]
        attr = torch.zeros((len(ids), self._cand.site.numel()), dtype=st.act.dtype, device=st.act.device)
        if level:  # nodes at the first site have no upstream sites
            with torch.enable_grad():
                grads = self._level_grads(ids, s_idx, level)
            for i, g in zip(level, grads):
                start, end = self._site_cols[i]
                attr[:, start:end] = scores([self.tracer.saes[i]], [self._clean.sites[i]], [g]).detach()
        ranked = self._level([str(n) for n in ids], attr, [level] * len(ids), [n.position for n in ids], top_k,
                             offset, min_attr)
        return dict(zip((str(n) for n in ids), ranked))

    def _level_grads(self, ids: list[NodeId], s_idx: int, level: list[int]):
        """Gradients of each node's activation w.r.t. the activations at ``level``'s sites: [k, pos, ...] each.

        Two steps, so the cost is linear in the number of nodes k: the gradient of each activation w.r.t. its
        own input row (an unbatched backward through the encoder, each node on its own copy of the row; SAE
        encoders act on each row alone), then one vmapped backward through the model from the site's input,
        whose cotangents are those rows. (A vmapped backward through the encoder instead makes k x k x d_sae
        gradients of the codes: it took 92 s and 1.5 GB for 256 nodes on the demo model.)
        """
        import torch

        sae, st = self.tracer.saes[s_idx], self._clean.sites[s_idx]
        act_in = st.act_in
        positions = torch.tensor([n.position for n in ids], device=act_in.device)
        latents = torch.tensor([n.latent for n in ids], device=act_in.device)
        rows = sae.flat(act_in.detach())[0, positions].requires_grad_(True)  # a copy: one row per node
        (row_grads,) = torch.autograd.grad(sae.encode(rows).gather(1, latents[:, None]).sum(), rows)
        k = len(ids)
        cotangent = act_in.new_zeros((k, *act_in.shape))
        cotangent[torch.arange(k, device=act_in.device), 0, positions] = row_grads.reshape(k, *act_in.shape[2:])
        acts = [self._clean.sites[i].act for i in level]
        grads = torch.autograd.grad(act_in, acts, grad_outputs=cotangent, retain_graph=True, allow_unused=True,
                                    is_grads_batched=True)
        # The forward ran on a batch of 1: drop it. A site the input does not depend on has zero gradient.
        return [act.new_zeros((k, *act.shape[1:])) if g is None else g[:, 0] for g, act in zip(grads, acts)]

    def ablate(self, interventions) -> AblationResult:
        """Apply all interventions in one forward pass. Accepts Interventions, node ids, or {node: scale}."""
        ivs = _interventions(self, interventions)
        with self._lock:
            logits, _ = run_interventions(self.tracer.adapter, self.tracer.site_by_name, self._clean, [ivs],
                                          self.spec.position)
        value = float(metric_from_logits(logits, self.spec)[0])
        probs = logits.float().softmax(-1)[0]
        # fsum is exactly rounded, so the estimate does not depend on the order the ablations were given in.
        estimated = 0.0 - math.fsum((1.0 - iv.scale) * self.root_attribution(iv.node) for iv in ivs)
        return AblationResult(interventions=tuple(ivs), value=value, prob=float(probs[self.spec.id]),
                              delta=value - self.clean_value, estimated_delta=estimated,
                              top_predictions=_predictions(self.tracer.adapter, probs))

    def activations_under(self, interventions, nodes) -> dict[str, float]:
        """Each latent's activation with ``interventions`` applied (a real forward pass per latent). The ones at
        the latent's own site are left out: they edit the site after the latent is read, so an ablated latent
        reading 0 here was switched off by the others, and scaling it changes nothing."""
        ivs = _interventions(self, interventions)
        out: dict[str, float] = {}
        for n in nodes:
            nid = self.check_node(n)
            row = [iv for iv in ivs if iv.node.site != nid.site]
            if nid.latent is None or not row:
                out[str(nid)] = self.activation(nid)
                continue
            probe = (self.tracer.site_by_name[nid.site], nid.position, nid.latent)
            with self._lock:
                _, probed = run_interventions(self.tracer.adapter, self.tracer.site_by_name, self._clean, [row],
                                              self.spec.position, probe=probe)
            out[str(nid)] = float(probed[0])
        return out

    def verify(self, k: int = 10, parent: str = TARGET, should_cancel=None) -> VerifyResult:
        """Real single-node zero-ablations of the top-k children of ``parent``: estimated vs actual Δ.

        Actual Δ is the change of the target metric (root level) or of the parent's activation, exactly what
        ``ablate`` of that one node measures. The ablations run VERIFY_CHUNK at a time, and ``should_cancel`` is
        checked between chunks. The result is also kept in ``self.verified[parent]``.
        """
        from scipy.stats import spearmanr

        if int(k) < 1:
            raise TracerError(f"verify needs k >= 1, got {k}")
        parent = str(parent)
        if parent not in self.children:
            raise TracerError(f"node {parent!r} has not been expanded: expand it before verifying its children")
        children = self.children[parent][: int(k)]
        rows = [[Intervention(c.id, 0.0)] for c in children]
        probe, clean_value = None, self.clean_value
        if parent != TARGET:
            pid = self.check_node(parent)
            site = self.tracer.site_by_name[pid.site]
            probe, clean_value = (site, pid.position, pid.latent), self.activation(pid)
        values: list[float] = []
        for start in range(0, len(rows), VERIFY_CHUNK):
            check_cancel(should_cancel)
            with self._lock:
                logits, probed = run_interventions(self.tracer.adapter, self.tracer.site_by_name, self._clean,
                                                   rows[start : start + VERIFY_CHUNK], self.spec.position,
                                                   probe=probe)
            values += (metric_from_logits(logits, self.spec) if probe is None else probed).tolist()
        check_cancel(should_cancel)
        pairs = tuple(VerifyPair(c.id, -c.attribution, float(v) - clean_value) for c, v in zip(children, values))
        rho = None
        if len(pairs) >= 2:
            r = spearmanr([p.estimated for p in pairs], [p.actual for p in pairs]).statistic
            rho = None if r != r else float(r)  # NaN when either side is constant
        agreement = sum(not p.sign_differs for p in pairs) / len(pairs) if pairs else None
        result = VerifyResult(parent=parent, pairs=pairs, spearman=rho, sign_agreement=agreement)
        with self._lock:
            self.verified[parent] = result
        return result

    def path_to(self, node, top_k: int = DEFAULT_TOP_K, max_depth: int | None = None,
                should_cancel=None) -> list[str] | None:
        """A way down the tree to ``node``: node ids from one of the root's rows to the node, or None.

        ``node`` is a node id (``SITE:LATENT@POS``) or a latent (``SITE:LATENT``, any position). Walks level by
        level from the root, looking at each parent's top ``top_k`` children and expanding (one batched
        ``expand`` per level) only the latents that can still lead to the node: those at a later site and, for a
        node id, at or after its position. Stops after ``max_depth`` levels (default: one per SAE site). Loaded
        children stay in ``self.children``, as after ``expand``. ``should_cancel`` is checked before each level.
        """
        text = str(node)
        if "@" in text:
            want = self.check_node(text)
            match = lambda nid: nid == want  # noqa: E731
            min_pos = want.position
        else:
            want = self.check_node(text + "@0")
            match = lambda nid: nid.site == want.site and nid.latent == want.latent  # noqa: E731
            min_pos = 0
        site = self._site_index[want.site]
        depth_limit = len(self.tracer.saes) if max_depth is None else int(max_depth)
        def short(parent: str) -> bool:  # fewer than top_k children loaded while more exist
            known = self.children.get(parent)
            return known is None or len(known) < min(top_k, self.totals.get(parent, 0))

        if short(TARGET):
            self.more(TARGET, top_k=top_k - len(self.children.get(TARGET, [])))
        came_from: dict[str, str | None] = {}
        frontier = [TARGET]
        for _depth in range(depth_limit):
            todo = [p for p in frontier if p != TARGET and short(p)]
            check_cancel(should_cancel)
            if todo:
                self.expand(todo, top_k=top_k, should_cancel=should_cancel)
            following = []
            for parent in frontier:
                for child in self.children.get(parent, [])[:top_k]:
                    cid = str(child.id)
                    if cid in came_from:
                        continue
                    came_from[cid] = None if parent == TARGET else parent
                    if match(child.id):
                        path = [cid]
                        while came_from[path[-1]] is not None:
                            path.append(came_from[path[-1]])
                        return path[::-1]
                    if (not child.id.is_error and self._site_index[child.id.site] > site
                            and child.id.position >= min_pos):
                        following.append(cid)
            if not following:
                return None
            frontier = following
        return None

    def activation_profile(self, node) -> list[float]:
        """The latent's activation at every position of the prompt (for a sparkline)."""
        nid = self.check_node(node)
        st = self._clean.sites[self._site_index[nid.site]]
        if nid.latent is None:
            return st.err.norm(dim=-1).tolist()
        return st.f[:, nid.latent].tolist()

    def logit_effects(self, node, n: int = 8) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """Tokens the latent's decoder direction promotes and suppresses through the unembedding."""
        nid = self.check_node(node)
        if nid.latent is None:
            return [], []
        site = self.tracer.site_by_name[nid.site]
        adapter = self.tracer.adapter
        if site.hook_z or site.d_in != adapter.cfg.d_model:
            return [], []
        effect = adapter.unembed_directions(site.decoder_rows([nid.latent]).to(adapter.dtype))[0].float()
        top, bottom = effect.topk(n), (-effect).topk(n)
        up = [(adapter.decode_token(i), float(v)) for v, i in zip(top.values.tolist(), top.indices.tolist())]
        down = [(adapter.decode_token(i), -float(v)) for v, i in zip(bottom.values.tolist(), bottom.indices.tolist())]
        return up, down

    def graph(self):
        from .graph import build_graph

        return build_graph(self)




def _predictions(adapter, probs, n: int = 10) -> tuple[Prediction, ...]:
    top = probs.topk(min(n, probs.shape[-1]))
    return tuple(Prediction(adapter.decode_token(i), int(i), float(p))
                 for p, i in zip(top.values.tolist(), top.indices.tolist()))


def _interventions(trace: Trace, spec) -> list[Intervention]:
    if isinstance(spec, dict):
        items = [Intervention(trace.check_node(k), float(v)) for k, v in spec.items()]
    else:
        items = [Intervention(trace.check_node(s.node), float(s.scale)) if isinstance(s, Intervention)
                 else Intervention(trace.check_node(s), 0.0) for s in spec]
    # Later entries for the same node win: one scale per node.
    merged = {iv.node: iv for iv in items}
    for iv in merged.values():
        if iv.scale != iv.scale or abs(iv.scale) == float("inf"):
            raise TracerError(f"scale for {iv.node} must be a finite number, got {iv.scale}")
    return list(merged.values())
