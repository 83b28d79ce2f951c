"""Labels for real SAEs from Neuronpedia: explanation exports read from files, and single latents fetched from
its API on request (cached on disk, never while offline).

An export is JSON: a list of explanation objects (or an object with an ``explanations`` list), each with
``modelId`` ("gpt2-small"), ``layer`` (the SAE's source id, "8-res-jb"), ``index`` (the latent, an integer or a
string of digits) and ``description`` (the label). ``modelId/layer`` is the SAE's ``neuronpedia_id`` in SAE-Lens's
registry. Nothing is fetched on load: a latent without a label is asked for when a trace first names it
(``SiteSAE.label``, so the CLI and the TUI both get it), or through :func:`fetch_labels` / ``Tracer.fetch_labels``.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

from ..core import validation as v
from ..core.nodes import NodeId
from ..core.paths import data_dir
from ..core.session import atomic_write

DEFAULT_URL = "https://www.neuronpedia.org"
URL_ENV = "TRACER_TUI_NEURONPEDIA_URL"
TIMEOUT_S = 3.0
WHAT = "Neuronpedia export"

_INDEX = v.Field((int, str), True, lambda x: None if (isinstance(x, int) and x >= 0) or
                 (isinstance(x, str) and x.isdigit()) else "must be a latent index (0 or more)",
                 "a latent index (an integer or a string of digits)")
ENTRY = {"modelId": v.text(non_empty=True), "layer": v.text(non_empty=True), "index": _INDEX,
         "description": v.text()}

_failed: set[tuple[str, int]] = set()  # latents whose fetch failed in this process: not asked again
_unreachable: list[str] = []  # why Neuronpedia could not be reached: no more requests in this process


def read_export(path) -> dict[str, dict[int, str]]:
    """One export file: {neuronpedia_id: {latent: description}}. Anything malformed: one FileFormatError."""
    p = v.expand_path(path, WHAT)
    data = v.read_json(p, WHAT)
    if isinstance(data, dict) and "explanations" in data:
        data = data["explanations"]
    if not isinstance(data, list):
        raise v.FileFormatError(p, f"{WHAT} {str(p)!r} must be a list of explanations, got {v._type_name(data)}")
    out: dict[str, dict[int, str]] = {}
    for i, entry in enumerate(data):
        v.check(entry, ENTRY, p, WHAT, prefix=f"[{i}].")
        out.setdefault(f"{entry['modelId']}/{entry['layer']}", {})[int(entry["index"])] = entry["description"]
    return out


def read_exports(paths) -> list[tuple[str, dict[int, str]]]:
    """Every file read and checked (before the model loads): [(path, export)]."""
    return [(str(p), read_export(p)) for p in paths]


def apply_exports(exports, saes) -> list[str]:
    """Attach the exports' descriptions (from :func:`read_exports`) as labels of the loaded SAEs with the same
    neuronpedia_id (a file's label replaces a shipped one; shipped snippets stay). Returns one warning per file
    that matched no loaded SAE."""
    by_id = {s.neuronpedia_id: s for s in saes if s.neuronpedia_id}
    warnings = []
    for path, export in exports:
        matched = 0
        for np_id, labels in export.items():
            sae = by_id.get(np_id)
            if sae is None:
                continue
            matched += 1
            for latent, text in labels.items():
                if 0 <= latent < sae.d_sae:
                    set_label(sae, latent, text)
        if not matched:
            ids = ", ".join(sorted(by_id)) or "none"
            warnings.append(f"labels file {path!r} matches no loaded SAE (loaded Neuronpedia ids: {ids})")
    return warnings


def set_label(sae, latent: int, text: str) -> None:
    from .sae_site import LatentInfo

    old = sae.labels.get(latent)
    sae.labels[latent] = replace(old, label=text) if old is not None else LatentInfo(label=text)


def base_url() -> str:
    return (os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def cache_file(neuronpedia_id: str, latent: int) -> Path:
    """data_dir()/neuronpedia/MODEL/SOURCE/LATENT.json (the API's answer, trimmed to the descriptions)."""
    parts = [urllib.parse.quote(p, safe="") for p in neuronpedia_id.split("/")]
    return data_dir().joinpath("neuronpedia", *parts, f"{int(latent)}.json")


def _read_cache(path: Path) -> str | None:
    try:
        data = v.check(v.read_json(path, "Neuronpedia cache"), {"description": v.text()}, path, "Neuronpedia cache")
    except v.FileFormatError:
        return None  # unreadable cache: fetch again
    return data["description"]


def fetch_label(neuronpedia_id: str, latent: int, timeout: float = TIMEOUT_S) -> str | None:
    """The latent's first explanation from the cache, else from the API (then cached; "" when it has none).
    None when offline, unreachable or the answer is not Neuronpedia-shaped (asked once per process)."""
    from . import hub

    path = cache_file(neuronpedia_id, latent)
    if path.is_file():
        cached = _read_cache(path)
        if cached is not None:
            return cached
    key = (neuronpedia_id, int(latent))
    if hub.is_offline() or key in _failed or _unreachable:
        return None
    url = f"{base_url()}/api/feature/{neuronpedia_id}/{int(latent)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http(s) base URL)
            data = json.loads(resp.read(1 << 22).decode("utf-8"))
        explanations = data.get("explanations") or []
        text = next((e["description"] for e in explanations
                     if isinstance(e, dict) and isinstance(e.get("description"), str)), "")
    except (OSError, ValueError, AttributeError) as err:
        _failed.add(key)
        if isinstance(err, OSError) and not isinstance(err, urllib.error.HTTPError):
            _unreachable.append(str(err))  # no route, refused, timed out: one wait per process, not one per latent
        return None
    atomic_write(path, json.dumps({"description": text}))
    return text


def fetch_into(sae, latent: int, timeout: float = TIMEOUT_S) -> str | None:
    """Fetch one latent's label (see :func:`fetch_label`) and store it in ``sae``'s labels; None if there is none."""
    text = fetch_label(sae.neuronpedia_id, latent, timeout)
    if text:
        set_label(sae, latent, text)
    return text or None


def fetch_labels(saes, node_ids, timeout: float = TIMEOUT_S) -> dict[str, str]:
    """Labels for the latents among ``node_ids`` (``NodeId``s or their text) whose SAE has a neuronpedia_id and no
    label yet: {node id: label}. Each is fetched once (cache on disk) and stored in the SAE's labels."""
    by_site = {s.site: s for s in saes}
    out = {}
    for raw in node_ids:
        node = NodeId.parse(raw)
        sae = by_site.get(node.site)
        if node.latent is None or sae is None or not sae.neuronpedia_id:
            continue
        info = sae.labels.get(node.latent)
        text = info.label if info is not None and info.label else fetch_into(sae, node.latent, timeout)
        if text:
            out[str(node)] = text
    return out
