"""Keep library chatter (deprecation warnings, 'Loaded pretrained model' prints, progress bars) off the user's
screen."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings

_NOISY_LOGGERS = ("transformer_lens", "sae_lens", "transformers", "huggingface_hub", "datasets")


def disable_progress_bars() -> None:
    """No third-party progress bars in this process: huggingface_hub's download bars and transformers' "Loading
    weights" bar (which follows huggingface_hub's switch when imported after it), through their public switches.

    Before huggingface_hub is imported, the environment variable does it; once imported, its own function.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import are_progress_bars_disabled
        from huggingface_hub.utils import disable_progress_bars as hub_disable

        if not are_progress_bars_disabled():
            with warnings.catch_warnings():  # it warns when HF_HUB_DISABLE_PROGRESS_BARS=0 is set; then that wins
                warnings.simplefilter("ignore")
                hub_disable()
    if "transformers.utils.logging" in sys.modules:
        sys.modules["transformers.utils.logging"].disable_progress_bar()


@contextlib.contextmanager
def quiet():
    disable_progress_bars()
    saved = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    root_level = logging.getLogger().level
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger().setLevel(root_level)
