"""Plain-text output of the CLI: a trace without --json, and every error as one line (hints worded as flags)."""

from __future__ import annotations

from ..core.defaults import DEFAULT_METRIC
from ..core.errors import OUT_OF_MEMORY, OUT_OF_MEMORY_HINT, TracerError, out_of_memory, unexpected, worded

# How the CLI words each setting a hint can name (core.errors.SETTINGS): as the flags that change it.
PHRASES = {
    "foil": "pass --foil TOKEN",
    "rule": "set the rule (--rule REGEX or --keywords a,b,c)",
    "labels": "label some by hand (--label I=undesired)",
    "samples": "sample more (--samples N)",
    "device": lambda example: f"use --device {example or 'cpu'}",
    "model": "pass --model NAME or --model DIR",
    "saes": lambda example: "pass --sae RELEASE[/ID] or --sae DIR" + (f" (e.g. --sae {example})" if example else ""),
    "means_text": "pass a text file (--means-text FILE)",
    "smaller_work": "try a shorter prompt, fewer SAEs (--sae), a smaller --top",
}


def describe_error(err: BaseException) -> tuple[str, int]:
    """(one line for stderr, exit code): 2 for the user's input, 1 for faults (out of memory, anything else)."""
    if isinstance(err, TracerError):
        return worded(str(err), err.hint, PHRASES), 2
    if out_of_memory(err):
        return worded(OUT_OF_MEMORY, OUT_OF_MEMORY_HINT, PHRASES), 1
    log = log_traceback(err)
    return f"{unexpected(err)} ({f'traceback in {log}' if log else 'set TRACER_TUI_DEBUG=1 for a traceback'})", 1


def log_traceback(err: BaseException) -> str | None:
    """Keep a bug's traceback in the debug log (the TUI's, ``tracer-tui.log`` in the data dir); its path, or None
    when the log cannot be written."""
    import logging

    from ..core import paths

    path = paths.open_log()
    if path is not None:
        logging.getLogger("tracer_tui.cli").error(unexpected(err), exc_info=err)
    return None if path is None else str(path)


def emit(text: str) -> None:
    """Print a command's result. A write that fails (a full disk, a closed descriptor) is one line, not an
    "unexpected" OSError; a reader that left (BrokenPipeError) is handled by main."""
    import sys

    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as err:
        raise TracerError(f"could not write the result to standard output: {err.strerror or err}") from None


SATURATED = 0.98  # above this p(target), d logprob is squashed by (1 - p)


def render_trace(data: dict) -> str:
    t = data["target"]
    lines = [f"target {t['token']!r} (id {t['id']}) at position {t['position']}: "
             f"{t['metric']} = {t['value']:.4f}, p = {t['prob']:.4f}",
             "top predictions: " + ", ".join(f"{p['token']!r} {p['prob']:.3f}" for p in data["top_predictions"][:5]),
             "", _header(data)]
    if t["metric"] == "logprob" and t["prob"] > SATURATED:
        lines[2:2] = [f"note: p(target) = {t['prob']:.3f}: log-prob is saturated, so first-order attributions "
                      f"understate real effects; try --metric {DEFAULT_METRIC} or --verify K"]
    depth = {"target": 0}
    levels = {lv["parent"]: lv for lv in data.get("levels", [])}
    verified = _verified(data)
    started: set[str] = set()
    for n in data["nodes"]:
        d = depth.get(n["parent"], 0) + 1
        depth[n["id"]] = d
        if n["parent"] not in started and n["parent"] in levels:
            started.add(n["parent"])
            lines.append(f"{'':>12}  {'':>10}  {'':>{21 if verified else 0}}{'  ' * (d - 1)}"
                         f"{_level_line(levels[n['parent']])}")
        label = f"  {n['label']}" if n.get("label") else ""
        lines.append(f"{n['attribution']:>+12.4f}  {n['activation']:>10.3f}  {_delta_cells(n) if verified else ''}"
                     f"{'  ' * (d - 1)}{n['id']} {n['token']!r}{label}")
    if "ablation" in data:
        a = data["ablation"]
        lines += ["", f"ablation of {', '.join(a['nodes'])}: value {a['value']:.4f}  actual Δ {a['delta']:+.4f}  "
                      f"estimated Δ {a['estimated_delta']:+.4f}"]
    if "verify" in data:
        v = data["verify"]
        rho = "n/a" if v["spearman"] is None else f"{v['spearman']:.3f}"
        sign = "n/a" if v.get("sign_agreement") is None else f"{v['sign_agreement']:.0%}"
        lines += ["", f"verify top {v['k']} (real single ablations): Spearman ρ {rho}, sign agreement {sign}"]
        if "levels" not in data:  # an older report without per-node actuals: list the pairs
            lines += [f"  {p['id']}: estimated {p['estimated']:+.4f}  actual {p['actual']:+.4f}" for p in v["pairs"]]
    return "\n".join(lines)


def _verified(data: dict) -> bool:
    return any(lv.get("k") for lv in data.get("levels", []))


def _header(data: dict) -> str:
    """Column titles; estimated and actual Δ appear once some level was verified (docs/attribution.md)."""
    delta = f"{'estimated Δ':>10}  {'actual Δ':>9}" if _verified(data) else ""
    return f"{'attribution':>12}  {'activation':>10}  {delta}{'  ' if delta else ''}node"


def _delta_cells(node: dict) -> str:
    """Estimated Δ (-attribution) and the real single-ablation Δ, blank when this node was not verified."""
    actual = "" if node.get("actual") is None else f"{node['actual']:+.4f}"
    return f"{-node['attribution']:>+10.4f}  {actual:>9}  "


def _level_line(level: dict) -> str:
    """A level's heading: where its nodes come from and, once verified, how well estimates ranked real effects."""
    where = ", ".join(level["sites"]) or "no upstream site"
    if not level.get("k"):
        return f"[level of {level['parent']}: {where}]"
    rho = "n/a" if level["spearman"] is None else f"{level['spearman']:.2f}"
    sign = "n/a" if level["sign_agreement"] is None else f"{level['sign_agreement']:.0%}"
    return f"[level of {level['parent']}: {where}; verify k={level['k']}: ρ {rho}, sign agreement {sign}]"
