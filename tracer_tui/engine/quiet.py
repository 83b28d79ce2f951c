"""Keep library chatter (deprecation warnings, 'Loaded pretrained model' prints) off the user's screen."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

_NOISY_LOGGERS = ("transformer_lens", "sae_lens", "transformers", "huggingface_hub", "datasets")


@contextlib.contextmanager
def quiet():
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
