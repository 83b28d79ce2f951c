"""Sample prompts for the picker and the palette: every readable file, and one line for each broken one."""

from __future__ import annotations

from pathlib import Path

REQUIRED = ("title", "prompt", "target")


def load_samples(directory: Path) -> tuple[list, list[str]]:
    """(samples, errors): a broken file is skipped with a message naming it, never hiding the others."""
    from ..core.prompts import load_sample_prompt

    samples, errors = [], []
    for path in sorted(Path(directory).glob("*.toml")):
        try:
            sample = load_sample_prompt(path)
        except Exception as err:  # TOML syntax, unknown or missing keys, unreadable or non-UTF-8 file
            errors.append(f"{path}: {_why(err, path)}")
            continue
        bad = [k for k in REQUIRED if not isinstance(getattr(sample, k), str)]
        if bad:
            errors.append(f"{path}: {', '.join(bad)} must be text")
            continue
        samples.append(sample)
    return samples, errors


def _why(err: Exception, path: Path) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if text.startswith(f"{path}: "):  # the reader names the file itself
        text = text[len(f"{path}: "):]
    if isinstance(err, TypeError) and "argument" in text:  # dataclass signature errors: keys missing
        text = f"needs the keys {', '.join(REQUIRED)} ({text.split('() ', 1)[-1]})"
    return text
