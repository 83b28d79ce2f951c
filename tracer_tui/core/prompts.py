"""Reader for ``sample_prompts/*.toml`` (format documented in sample_prompts/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import validation as v


@dataclass(frozen=True)
class SamplePrompt:
    name: str  # file stem
    title: str
    prompt: str
    target: str
    model: str = "demo"
    sae: str | None = None
    needs_hf_cache: bool = False
    behaviour: str | None = None
    foil: str | None = None  # logit-diff's subtracted token
    undesired_rule: str | None = None


# Types of the keys a sample prompt file may hold (the TOML is read and checked by core.validation).
SCHEMA = {"title": v.text(False), "prompt": v.text(False, non_empty=True), "target": v.text(False),
          "model": v.text(False), "sae": v.optional((str,)), "needs_hf_cache": v.Field((bool,)),
          "behaviour": v.optional((str,)), "foil": v.optional((str,)), "contrast": v.optional((str,)),
          "undesired_rule": v.optional((str,))}


def load_sample_prompt(path: Path) -> SamplePrompt:
    """One sample prompt file; a FileFormatError (a ValueError) naming the file and the field when it is broken,
    a TypeError naming the missing keys."""
    data = v.read_toml(path, "", quote=False)
    unknown = set(data) - set(SamplePrompt.__dataclass_fields__) - {"contrast"}
    if unknown:
        raise v.FileFormatError(path, f"{path}: unknown keys {sorted(unknown)}")
    v.check(data, SCHEMA, path, "", quote=False)
    if "contrast" in data:  # the foil's name in files written before it was renamed
        data.setdefault("foil", data.pop("contrast"))
    return SamplePrompt(name=Path(path).stem, **data)


def load_sample_prompts(directory: Path) -> list[SamplePrompt]:
    return [load_sample_prompt(p) for p in sorted(Path(directory).glob("*.toml"))]
