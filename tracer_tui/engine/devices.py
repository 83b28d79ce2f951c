"""Device and dtype choice: auto picks cuda, then mps, then cpu; bad choices fail with a clear message."""

from __future__ import annotations

from ..core.errors import Hint, TracerError

DTYPES = ("float32", "float64", "float16", "bfloat16")


def resolve_device(name: str | None = "auto"):
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TracerError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TracerError(f"device {name!r} is unavailable: no CUDA GPU is visible", Hint(("device",), "cpu"))
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TracerError(
                f"device {name!r} is unavailable: only {torch.cuda.device_count()} CUDA device(s); use cuda:0"
            )
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise TracerError(f"device {name!r} is unavailable: no Apple MPS backend", Hint(("device",), "cpu"))
    elif device.type != "cpu":
        raise TracerError(f"unsupported device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return device


def resolve_dtype(name: str | None, device):
    import torch

    name = (name or "float32").strip().lower()
    if name not in DTYPES:
        raise TracerError(f"unknown dtype {name!r}: use one of {', '.join(DTYPES)}")
    if name == "float16" and device.type == "cpu":
        raise TracerError("dtype float16 is not supported on the CPU: use float32 or bfloat16, or a GPU")
    if name == "float64" and device.type == "mps":
        raise TracerError("dtype float64 is not supported on MPS: use float32")
    if name == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TracerError("dtype bfloat16 is not supported on this GPU: use float16 or float32")
    return getattr(torch, name)
