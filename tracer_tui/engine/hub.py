"""The Hugging Face hub, seen from tracer-tui: where the cache is, whether we are offline, and going offline fast.

Without network and without ``HF_HUB_OFFLINE``, huggingface_hub and transformers retry every file for minutes
before falling back to the cache. :func:`ensure_reachable` asks once per process, with a short TCP connect to
the hub (or the HTTPS proxy), and when that fails switches the whole process to offline mode
(``HF_HUB_OFFLINE=1``), so cached models and SAEs load at once and missing ones fail at once.

Imports nothing heavy: the probe is a plain socket, and huggingface_hub is touched only if already imported.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

PROBE_TIMEOUT_S = 1.5
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}

OFFLINE_NOTICE = ("the Hugging Face hub cannot be reached ({why}): working offline from the cache in {cache}; "
                  "models and SAEs not cached there will fail")

_checked: bool | None = None  # the probe's answer, once asked


def cache_dir() -> str:
    """The hub cache directory huggingface_hub uses (HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/...)."""
    if "huggingface_hub.constants" in sys.modules:
        return sys.modules["huggingface_hub.constants"].HF_HUB_CACHE
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def is_offline() -> bool:
    """Whether hub access is switched off for this process (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and constants.HF_HUB_OFFLINE:
        return True
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def go_offline() -> None:
    """Switch this process to offline mode: the environment for libraries not imported yet, and huggingface_hub's
    public ``constants.HF_HUB_OFFLINE`` (which transformers also reads) when it already is."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True


def probe_target() -> tuple[str, int]:
    """(host, port) a connect test should reach: the HTTPS proxy if one is set, else the hub endpoint."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = proxy or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    parts = urlsplit(url if "://" in url else f"http://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "huggingface.co", port


def probe(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the hub (or proxy) opens within ``timeout`` seconds, else why not."""
    host, port = probe_target()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"no answer from {host} in {timeout:g} s"
    except OSError as err:
        return f"{host}: {err.strerror or err}"


def ensure_reachable(notify: Callable[[str], None] | None = None, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Before anything is fetched from the hub: True if it can be reached (or offline mode was chosen by the user),
    else switch to offline mode, tell ``notify`` once, and return False. Asks the network at most once per process.
    """
    global _checked
    if _checked is False:
        return False
    if is_offline():
        return True
    if _checked is None:
        why = probe(timeout)
        _checked = why is None
        if why is not None:
            go_offline()
            if notify is not None:
                notify(OFFLINE_NOTICE.format(why=why, cache=cache_dir()))
    return _checked


def reset() -> None:
    """Forget the probe's answer (tests)."""
    global _checked
    _checked = None
