"""Load a model and its SAEs from names, registries or local directories, and check they fit together."""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from collections.abc import Callable, Iterable

from . import bundle
from .density import read_log_sparsity
from .devices import resolve_device, resolve_dtype
from ..core.errors import Hint, TracerError
from .model_adapter import ModelAdapter
from .quiet import quiet
from .sae_site import SiteSAE, load_labels

Progress = Callable[[str, float], None]

_OFFLINE_HINTS = ("offline", "connect", "resolve", "network", "localentrynotfound", "cannot find the requested files",
                  "couldn't", "could not", "max retries", "timed out")


def default_bundle() -> Path:
    from ..core.shipped import demo_bundle_dir

    return demo_bundle_dir()


def load_model(spec: str | None, path: Path | None, device, dtype, model_kwargs: dict | None = None) -> ModelAdapter:
    """``path`` is the bundle directory that :func:`local_model_path` found for ``spec``, or None for a name."""
    if path is not None:
        with quiet():
            return ModelAdapter(bundle.load_model_dir(bundle.model_dir_of(path), device=device, dtype=dtype),
                                source=str(path.resolve()))
    return ModelAdapter(_from_pretrained(spec, device, dtype, model_kwargs or {}), source=spec)


def local_model_path(spec: str | None) -> Path | None:
    """The bundle directory for ``spec``, None for a model name; clear errors for bad paths and names."""
    path = Path(os.path.expanduser(spec)) if spec else default_bundle()
    if spec is None and bundle.model_dir_of(path) is None:
        raise TracerError(f"the bundled demo model is missing from this install (looked in {path}; reinstall "
                          "tracer-tui)", Hint(("model",)))
    if path.exists():
        if bundle.model_dir_of(path) is None:
            raise TracerError(f"{str(path)!r} is not a model bundle: expected config.json, model.safetensors "
                              "and tokenizer/ in it (or in its model/ folder)")
        return path
    if spec.startswith((".", "/", "~")):
        raise TracerError(f"model directory {spec!r} does not exist")
    official_model_name(spec)
    return None


def official_model_name(name: str) -> str:
    with quiet():
        from transformer_lens.loading_from_pretrained import get_official_model_name

        try:
            return get_official_model_name(name)
        except ValueError:
            raise TracerError(f"unknown model {name!r}: not a TransformerLens model name (e.g. gpt2, gpt2-small, "
                              "pythia-70m, gemma-2-2b) nor an existing bundle directory") from None


def _from_pretrained(name: str, device, dtype, model_kwargs: dict):
    official = official_model_name(name)
    with quiet():
        from transformer_lens import HookedTransformer

        try:
            if model_kwargs:
                return HookedTransformer.from_pretrained_no_processing(official, device=device, dtype=dtype,
                                                                       **model_kwargs)
            return HookedTransformer.from_pretrained(official, device=device, dtype=dtype)
        except Exception as err:  # HF/hub errors come in many types; the message is what matters
            raise _hub_error(f"model {name!r}", err) from None


def _is_offline_error(err: Exception) -> bool:
    text = f"{type(err).__name__}: {err}".lower()
    return any(h in text for h in _OFFLINE_HINTS)


def _hub_error(what: str, err: Exception, plural: bool = False) -> TracerError:
    if _is_offline_error(err):
        from .hub import cache_dir

        it = "they are" if plural else "it is"
        return TracerError(f"could not load {what}: {it} not in the Hugging Face cache ({cache_dir()}) and the "
                           "hub cannot be reached; download it once with network access, or point at a local directory")
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return TracerError(f"could not load {what}: {first}")


# ---- SAEs ----------------------------------------------------------------------------------------
def _registry():
    with quiet():
        from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

        return get_pretrained_saes_directory()


def expand_sae_specs(specs: Iterable[str]) -> list[tuple[str, str | None, Path | None]]:
    """Each spec -> (source, sae_id, local_dir) entries: a release/id, every id of a release, or local dirs.

    Reads SAE-Lens's registry once, and only when a spec is not a local path. Every unknown release or id is
    collected and reported in one error, before anything is loaded.
    """
    out: list[tuple[str, str | None, Path | None]] = []
    registry = None
    unknown_releases: dict[str, list[str]] = {}  # release -> suggestions
    unknown_ids: dict[str, list[str]] = {}  # release -> missing ids, in the order given
    for spec in specs:
        spec = str(spec).strip()
        path = Path(os.path.expanduser(spec))
        if path.is_dir():
            if (path / bundle.SAE_CONFIG).is_file():
                out.append((str(path.resolve()), None, path))
                continue
            # A bundle (with saes/ inside) or a folder of SAE directories.
            dirs = list(bundle.sae_dirs(path).values()) or sorted(p for p in path.iterdir()
                                                                    if (p / bundle.SAE_CONFIG).is_file())
            if not dirs:
                raise TracerError(f"{spec!r} is not an SAE directory: expected cfg.json and sae_weights.safetensors "
                                  "saved by SAE-Lens (or a bundle with a saes/ folder)")
            out.extend((str(d.resolve()), None, d) for d in dirs)
            continue
        if spec.startswith((".", "/", "~")):
            raise TracerError(f"SAE directory {spec!r} does not exist")
        registry = registry or _registry()
        release, _, sae_id = spec.partition("/")
        if release not in registry:
            unknown_releases.setdefault(release, difflib.get_close_matches(release, list(registry), n=3))
            continue
        ids = registry[release].saes_map
        if sae_id:
            if sae_id not in ids:
                unknown_ids.setdefault(release, []).append(sae_id)
                continue
            out.append((release, sae_id, None))
        else:
            out.extend((release, i, None) for i in ids)
    if unknown_releases or unknown_ids:
        raise TracerError(_unknown_message(unknown_releases, unknown_ids, registry), Hint(("saes",)))
    return out


def _unknown_message(releases: dict[str, list[str]], ids: dict[str, list[str]], registry) -> str:
    """One line naming every unknown release and id: e.g. ``unknown SAE release 'x' (did you mean y?); unknown
    SAE ids 'a', 'b' in release 'r'; e.g. c, d``."""
    parts = []
    for release, close in releases.items():
        hint = f" (did you mean {', '.join(close)}?)" if close else " (see SAE-Lens's pretrained_saes.yaml)"
        parts.append(f"unknown SAE release {release!r}{hint}")
    for release, missing in ids.items():
        known = list(registry[release].saes_map)
        close = list(dict.fromkeys(c for m in missing for c in difflib.get_close_matches(m, known, n=2)))[:3]
        names = ", ".join(repr(m) for m in missing)
        parts.append(f"unknown SAE id{'s' if len(missing) > 1 else ''} {names} in release {release!r}; "
                     f"e.g. {', '.join(close or known[:3])}")
    return "; ".join(parts)


def model_kwargs_for(entries) -> dict:
    """Model-loading options the SAE registry asks for (e.g. Gemma Scope wants unprocessed weights)."""
    kwargs: dict = {}
    releases = {src for src, sae_id, local in entries if local is None}
    if releases:
        registry = _registry()
        for release in sorted(releases):
            kwargs.update((registry[release].config_overrides or {}).get("model_from_pretrained_kwargs", {}) or {})
    return kwargs


def load_sae(entry, device, dtype) -> SiteSAE:
    source, sae_id, local = entry
    with quiet():
        from sae_lens import SAE

        dtype_name = str(dtype).replace("torch.", "")
        if local is not None:
            sae = bundle.load_sae(local, device=device, dtype=dtype_name)
            labels, neuronpedia, log_sparsity = load_labels(local), None, read_log_sparsity(local)
        else:
            try:
                sae, _, log_sparsity = SAE.from_pretrained_with_cfg_and_sparsity(source, sae_id, device=str(device),
                                                                                  dtype=dtype_name)
            except Exception as err:
                raise _hub_error(f"SAE {source}/{sae_id}", err) from None
            labels = {}
            neuronpedia = (_registry()[source].neuronpedia_id or {}).get(sae_id)
            source = f"{source}/{sae_id}"
    site = sae.cfg.metadata.hook_name
    if not site:
        raise TracerError(f"SAE {source!r} does not say which hook it reads (cfg metadata.hook_name is empty)")
    return SiteSAE(sae, site=site, source=source, neuronpedia_id=neuronpedia, labels=labels, log_sparsity=log_sparsity)


def _check_hook(adapter: ModelAdapter, source: str, site: str) -> None:
    if not adapter.has_hook(site):
        near = difflib.get_close_matches(site, list(adapter.model.hook_dict), n=2)
        hint = f"; nearest: {', '.join(near)}" if near else ""
        raise TracerError(f"SAE {source!r} reads hook {site!r}, which model {adapter.info().name!r} does not have{hint}")


def check_fit(adapter: ModelAdapter, saes: list[SiteSAE]) -> None:
    """Every SAE's hook exists in the model, widths match, and no two SAEs share a site."""
    seen: dict[str, str] = {}
    for s in saes:
        _check_hook(adapter, s.source, s.site)
        if s.site in seen:
            raise TracerError(f"two SAEs on the same site {s.site!r}: {seen[s.site]!r} and {s.source!r}; keep one")
        seen[s.site] = s.source
    widths = adapter.hook_widths([s.site for s in saes])
    for s in saes:
        if widths[s.site] != s.d_in:
            raise TracerError(f"SAE {s.source!r} expects d_in={s.d_in} at {s.site!r}, but the model's activation "
                              f"there has width {widths[s.site]}: the SAE belongs to another model")


def uses_hub(model_path: Path | None, entries) -> bool:
    """Whether loading needs the Hugging Face hub (or its cache): a model by name, or a registry SAE."""
    return model_path is None or any(local is None for _, _, local in entries)


def sae_configs(entries) -> dict[str, dict]:
    """Each registry SAE's config, as SAE-Lens reads it (cfg.json, or nothing for formats whose config it derives
    from names): small files, fetched before the model loads. Every SAE missing from the cache while offline is
    reported in one error; a config that fails otherwise is left out (loading the SAE then says why)."""
    remote = [(src, sae_id) for src, sae_id, local in entries if local is None]
    if not remote:
        return {}
    cfgs, missing, first = {}, [], None
    with quiet():
        from sae_lens.loading.pretrained_sae_loaders import load_sae_config_from_huggingface

        for release, sae_id in remote:
            try:
                cfgs[f"{release}/{sae_id}"] = load_sae_config_from_huggingface(release, sae_id)
            except Exception as err:  # noqa: BLE001 - worded below, or by loading the SAE
                if _is_offline_error(err):
                    missing.append(f"{release}/{sae_id}")
                    first = first or err
    if missing:
        what = f"SAE {missing[0]}" if len(missing) == 1 else f"{len(missing)} SAEs ({', '.join(missing)})"
        raise _hub_error(what, first, plural=len(missing) > 1)
    return cfgs


def check_configs_fit(adapter: ModelAdapter, cfgs: dict[str, dict]) -> None:
    """Refuse SAEs that cannot fit the model from their configs alone, before any weights are read or downloaded."""
    sites = {}
    for source, cfg in cfgs.items():
        site = (cfg.get("metadata") or {}).get("hook_name") or cfg.get("hook_name")
        if site:
            _check_hook(adapter, source, site)
            sites[source] = site
    widths = adapter.hook_widths(sorted(set(sites.values()))) if sites else {}
    for source, site in sites.items():
        d_in = cfgs[source].get("d_in")
        if isinstance(d_in, int) and widths[site] != d_in:
            raise TracerError(f"SAE {source!r} expects d_in={d_in} at {site!r}, but the model's activation there has "
                              f"width {widths[site]}: the SAE belongs to another model "
                              f"({(cfgs[source].get('metadata') or {}).get('model_name') or 'unknown'})")


def load_all(model: str | None = None, saes: Iterable[str] = (), device: str = "auto", dtype: str = "float32",
             progress: Progress | None = None):
    """Resolve device/dtype, load the model and SAEs, validate. Returns (adapter, [SiteSAE]).

    Names and ids are checked (every bad one reported at once) before the model loads; when the hub is needed
    and cannot be reached, the process goes offline first (one notice: ``progress`` text, else stderr).
    """
    report = progress or (lambda step, frac: None)
    report("importing torch", 0.02)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    saes = list(saes)
    report("resolving model and SAEs", 0.05)
    path = local_model_path(model)
    if not saes:
        saes = [str(path)] if path is not None and bundle.sae_dirs(path) else []
    if not saes:
        raise TracerError("no SAEs given", Hint(("saes",), "gpt2-small-res-jb"))
    entries = expand_sae_specs(saes)
    if uses_hub(path, entries):
        from . import hub

        hub.ensure_reachable(lambda text: _notify(text, progress))
    report("reading SAE configs", 0.08)
    cfgs = sae_configs(entries)
    report(f"loading model {model or 'demo'}", 0.1)
    adapter = load_model(model, path, dev, dt, model_kwargs_for(entries))
    report("checking SAE configs against the model", 0.35)
    check_configs_fit(adapter, cfgs)
    loaded = []
    for i, entry in enumerate(entries):
        report(f"loading SAE {i + 1}/{len(entries)}: {entry[1] or Path(entry[0]).name}", 0.4 + 0.55 * i / len(entries))
        loaded.append(load_sae(entry, dev, dt))
    report("checking hooks and widths", 0.97)
    check_fit(adapter, loaded)
    loaded.sort(key=lambda s: adapter.order_key(s.site))
    report("ready", 1.0)
    return adapter, loaded


def _notify(text: str, progress: Progress | None) -> None:
    if progress is not None:
        progress(f"offline: {text}", 0.06)
    else:
        print(f"tracer-tui: {text}", file=sys.stderr)
