"""The app's start-up options (from the CLI's argparse namespace, or built directly in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Options:
    model: str | None = None  # None: the bundled demo
    saes: list[str] = field(default_factory=list)
    device: str = "auto"
    dtype: str = "float32"
    labels: list[str] = field(default_factory=list)  # Neuronpedia explanation exports (--labels)
    prompt: str | None = None
    theme: str | None = None
    no_mouse: bool = False
    resume: str | None = None  # None, "last", or a path
    timing: bool = False
    autosave: bool = True
    show_timings: bool = True  # seconds in status messages (off for snapshot tests)
    page_rows: int | None = None  # rows per loaded page of a level; None: as many as the tree's height shows

    @classmethod
    def from_args(cls, args) -> Options:
        return cls(model=args.model, saes=list(args.sae or []), device=args.device, dtype=args.dtype,
                   labels=list(getattr(args, "labels", None) or []), prompt=args.prompt, theme=args.theme,
                   no_mouse=bool(args.no_mouse), resume=args.resume, timing=bool(getattr(args, "timing", False)))
