"""Pure text formatting for the UI (numbers, bars, token and site names, sparklines). No Textual here."""

from __future__ import annotations

import re

BAR_WIDTH = 5
_EIGHTHS = " ▏▎▍▌▋▊▉"
_SPARK = "▁▂▃▄▅▆▇█"
_SITE_RE = re.compile(r"^blocks\.(\d+)\.(.+)$")
_SITE_SHORT = {
    "hook_resid_pre": "pre", "hook_resid_mid": "mid", "hook_resid_post": "post", "hook_mlp_out": "mlp",
    "hook_attn_out": "attn", "attn.hook_z": "z", "mlp.hook_post": "mlp.post", "mlp.hook_pre": "mlp.pre",
}


def signed(x: float, digits: int = 3) -> str:
    """+1.234 / −1.234 (a real minus sign keeps columns aligned and reads well)."""
    return f"{x:+.{digits}f}".replace("-", "−")


def num(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


def pct(share: float) -> str:
    return f"{round(100 * share):>3d}%"


def prob(p: float) -> str:
    return f"{100 * p:.1f}%" if p >= 0.001 else f"{p:.1e}"


def bar(share: float, width: int = BAR_WIDTH) -> str:
    """A left-aligned bar ``width`` cells wide for a share in 0..1, with eighth-cell resolution."""
    eighths = max(0, min(width * 8, round(share * width * 8)))
    full, rest = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[rest] if rest else "")
    return text.ljust(width)


def token(text: str) -> str:
    """A token shown as a quoted string with whitespace made visible."""
    return "'" + text.replace("\n", "⏎").replace("\t", "⇥") + "'"


NEWLINE = "⏎"


def one_line(text: str) -> str:
    """A prompt for a one-line box: each newline shown as ⏎ (a raw newline would break the line and corrupt the
    screen)."""
    return text.replace("\r\n", "\n").replace("\n", NEWLINE)


def from_one_line(text: str) -> str:
    """The prompt a one-line box holds, newlines back in place."""
    return text.replace(NEWLINE, "\n")


def strip_token(text: str) -> str:
    """A token for the strip: spaces as '·', newlines as '⏎'."""
    return text.replace(" ", "·").replace("\n", "⏎").replace("\t", "⇥") or "∅"


def site(site_name: str) -> str:
    """blocks.1.hook_resid_post -> L1.post; other hooks are shown as they are."""
    m = _SITE_RE.match(site_name)
    if not m:
        return site_name
    return f"L{m.group(1)}.{_SITE_SHORT.get(m.group(2), m.group(2))}"


def node_name(node_id) -> str:
    """L1.post:12@6 (or L0.pre:err@6)."""
    latent = "err" if node_id.latent is None else str(node_id.latent)
    return f"{site(node_id.site)}:{latent}@{node_id.position}"


def scale(s: float) -> str:
    return "⊘" if s == 0 else f"×{s:g}"


def sparkline(values: list[float]) -> str:
    """One block per value, scaled to the maximum |value| (negative values show as the lowest block)."""
    if not values:
        return ""
    top = max(max(values), 1e-12)
    return "".join(_SPARK[max(0, min(7, int(round(7 * max(v, 0.0) / top))))] for v in values)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def rho(r: float | None) -> str:
    return "n/a" if r is None else f"{r:+.2f}".replace("-", "−")


def verify_summary(v) -> str:
    """'ρ +0.90 signs 9/10': Spearman ρ of estimated vs actual Δ and how many signs agree (a core.nodes.VerifyResult)."""
    return f"ρ {rho(v.spearman)} signs {v.agreeing}/{v.k}"


def density(d: float | None) -> str:
    """'fires on 43% of tokens' or 'unknown' (engine.density.format_density's wording)."""
    from ..engine.density import format_density

    return "unknown" if d is None else f"fires on {format_density(d)}"
