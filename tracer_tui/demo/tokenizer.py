"""Byte-level BPE tokenizer trained on the demo corpus, saved as a Hugging Face tokenizer directory."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"  # GPT-2 style: one special token serves as BOS, EOS and PAD.


def train_tokenizer(texts: Iterable[str], vocab_size: int, must_be_single: Iterable[str] = ()):
    """Train byte-level BPE; returns a ``transformers.PreTrainedTokenizerFast``.

    ``must_be_single`` words (e.g. " Paris") are checked after training: the corpus repeats them
    so often that BPE merges each into one token, and we fail loudly if that ever stops being true
    (answers must be single tokens for top-1 accuracy and for attribution targets).
    """
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],  # id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT, pad_token=EOT,
                                   unk_token=None)
    bad = [w for w in must_be_single if len(fast.encode(w, add_special_tokens=False)) != 1]
    if bad:
        raise ValueError(f"answer words are not single tokens: {bad[:20]}")
    return fast


def save_tokenizer(tokenizer, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir))


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))
