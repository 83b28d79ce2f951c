"""Reader for ``sample_prompts/*.toml`` (format documented in sample_prompts/README.md)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


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


def load_sample_prompt(path: Path) -> SamplePrompt:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    unknown = set(data) - set(SamplePrompt.__dataclass_fields__)
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    if "contrast" in data:  # the foil's name in files written before it was renamed
        data.setdefault("foil", data.pop("contrast"))
    return SamplePrompt(name=Path(path).stem, **data)


def load_sample_prompts(directory: Path) -> list[SamplePrompt]:
    return [load_sample_prompt(p) for p in sorted(Path(directory).glob("*.toml"))]
