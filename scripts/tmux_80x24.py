"""Drive the real app on the demo model in tmux at 80×24 (TERM=xterm-256color, as over SSH) and check that each
step's screen shows its full number or message. Prints every step's screen and PASS/FAIL; exits 1 on a failure.

    python scripts/tmux_80x24.py            # every step
    python scripts/tmux_80x24.py --quiet    # only the PASS/FAIL lines (and the screens of failures)

The steps are a list (``STEPS``): each sends keys, waits for the screen to show something, then checks it. Add a
step by appending one. The tmux server has its own socket (``tmux -L``), so no other tmux session is touched.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLS, ROWS = 80, 24
NUM = r"[+−-]?\d+\.\d{3}"  # a value as the app prints it (3 decimals, a real minus sign)
PROMPT = "When Mary and John went to the store, John gave a drink to"


class Tmux:
    """One private tmux server (own socket) running one app at 80×24."""

    started = 0

    def __init__(self, command: list[str], env: dict[str, str]):
        Tmux.started += 1  # a fresh socket for each app: a server being killed never takes the next one
        self.socket = f"tracer-80x24-{os.getpid()}-{Tmux.started}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        self.run("new-session", "-d", "-s", "app", "-x", str(COLS), "-y", str(ROWS),
                 f"env {exports} {shlex.join(command)}; sleep 600")
        self.run("set-option", "-s", "escape-time", "0")  # Esc is Esc, never the start of an Alt key

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time, so Esc followed by a letter is never read as Alt+letter
            self.run("send-keys", "-t", "app", key)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "app", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app")

    def wait(self, pattern: str, seconds: float = 30.0) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if re.search(pattern, self.screen()):
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.run("kill-server")


@dataclass
class Step:
    name: str
    act: Callable[[Tmux], None]  # keys to send
    wait: str  # a regex the screen shows when the step is done
    check: Callable[[str], str | None] = lambda _screen: None  # None: pass; else why it failed
    seconds: float = 30.0


def lines(screen: str) -> list[str]:
    return screen.splitlines()


def status_line(screen: str) -> str:
    return lines(screen)[-2] if len(lines(screen)) >= 2 else ""


def root_line(screen: str) -> str:
    return next((line for line in lines(screen) if "◎" in line), "")


def has(pattern: str, where: Callable[[str], str] = lambda s: s, what: str = "screen") -> Callable[[str], str | None]:
    def check(screen: str) -> str | None:
        return None if re.search(pattern, where(screen)) else f"{what} does not show /{pattern}/"

    return check


def all_of(*checks: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def check(screen: str) -> str | None:
        return next((why for why in (c(screen) for c in checks) if why), None)

    return check


def same_deltas(screen: str) -> str | None:
    """After an ablation, the root row shows the status line's actual and estimated Δ, both whole."""
    m = re.search(rf"Δ ({NUM}) est ({NUM})", status_line(screen))
    if m is None:
        return "the status line does not show both Δs"
    root = root_line(screen)
    return None if m.group(1) in root and m.group(2) in root else f"the root row lacks Δ {m.group(1)} or est {m.group(2)}"


def one_line_prompt(screen: str) -> str | None:
    """A prompt with a newline stays on its line (⏎), and the token strip below it is not written over."""
    rows = lines(screen)
    if "⏎" not in rows[1]:
        return "the prompt line shows no ⏎"
    if "Assistant" in rows[2] and "⏎" not in rows[2]:
        return "the prompt's second line is written over the token strip"
    return None


def persona(tmux: Tmux) -> None:
    """Open the first persona sample (every one has a newline) from the sample picker."""
    tmux.keys("o")
    tmux.wait("Sample prompts", 10)
    names = sorted(p.stem for p in (ROOT / "sample_prompts").glob("*.toml"))
    index = next(i for i, n in enumerate(names) if n.startswith("demo_persona"))
    tmux.keys(*["Down"] * index, "Enter")


def cancel_new_prompt(tmux: Tmux) -> None:
    """A new prompt, Enter, Esc at once. The demo traces in about 0.1 s, so Esc can come too late (the new tree is
    then simply shown): try again with another prompt, up to six times."""
    for attempt in range(6):
        tmux.keys("i")
        tmux.wait("type ›", 5)  # the prompt has the focus: letters go into it
        tmux.keys("C-u")
        # About 115 tokens (the demo's context is 128): the longer the prompt, the longer Esc has to arrive.
        tmux.type(f"The Colosseum is in the city of{' and on' * 36} to the end {attempt}")
        tmux.wait(f"to the end {attempt}", 5)
        tmux.run("send-keys", "-t", "app", "Enter", "Escape")  # one write: Esc arrives while the trace runs
        time.sleep(0.5)
        if "previous prompt" in tmux.screen():
            break
    tmux.keys("j", "a")


def contrast(tmux: Tmux) -> None:
    """Open the contrast screen (n) and type a rule when it asks for one."""
    tmux.keys("Escape", "n")
    if tmux.wait("Undesired rule", 5):
        time.sleep(0.5)  # the dialog focuses its box once mounted
        tmux.type(r"(?i)\b(who cares|nobody cares|ugh|reckless\w*|ignore\w*)\b")
        tmux.wait("reckless", 5)
        tmux.keys("Enter")


STEPS: list[Step] = [
    Step("load the demo model", lambda t: None, r"ready: tracer-demo", seconds=120),
    Step("trace: the root row shows the value and p whole", lambda t: (t.type(PROMPT), t.keys("Enter")),
         r"traced ' Mary'", all_of(has(rf"◎ ' Mary' @14 .*{NUM}.* p \d+\.\d%", root_line, "the root row"),
                                   has(rf"traced ' Mary' @14: logit-mean {NUM}, p \d+\.\d%", status_line, "status"))),
    Step("levels fill the tree's height", lambda t: None, r"more \(Enter",
         has(r"^└─? … \d+ more", lambda s: lines(s)[-3].split("▕")[0].rstrip(), "the last tree row")),
    Step("expand: the status counts the loaded rows", lambda t: t.keys("j", "j", "l"), r"upstream nodes of L3",
         has(r"\d+ of \d+ upstream nodes of L3\.pre:\d+@14 loaded", status_line, "status")),
    Step("ablate: both Δs on the root row and the status", lambda t: t.keys("a"), r"ablated 1:", same_deltas),
    Step("ablate a second: the count and both Δs", lambda t: t.keys("j", "j", "a"), r"ablated 2:", same_deltas),
    Step("verify: ρ and the sign count first", lambda t: t.keys("h", "v"), r"verify ρ",
         has(r"verify ρ [+−]\d\.\d\d signs \d+/\d+", status_line, "status")),
    Step("export: the file name whole", lambda t: (t.keys("e"), t.wait("Export the explored", 10), t.keys("Enter")),
         r"exported graph-", has(r"exported graph-\d{8}-\d{6}\.json", status_line, "status")),
    Step("message history (L): the full export message", lambda t: t.keys("L"), r"Messages",
         has(r"exported graph-\d{8}-\d{6}\.json to .*exports")),
    Step("close the history", lambda t: t.keys("Escape"), r"f1 Help"),
    Step("help (?): the explanations are readable", lambda t: t.keys("?"), r"what it does",
         has(r"show every key with what it does")),
    Step("close the help", lambda t: t.keys("Escape"), r"f1 Help"),
    # The research tools (README, "Research tools"), on the same exploration.
    Step("filter (/): the top line counts what it keeps", lambda t: (t.keys("/"), t.wait("Filter the tree", 10),
                                                                     t.type("L3"), t.keys("Enter")),
         r"filter: L3", has(r"filter: L3 · \d+ of \d+ rows", status_line, "status")),
    Step("Esc clears the filter", lambda t: t.keys("Escape"), r"filter cleared"),
    Step("hide dense latents (D), then show them", lambda t: t.keys("D"), r"dense latents hidden",
         has(r"dense latents hidden \(> 10% of tokens; D shows them\)", status_line, "status")),
    Step("show dense latents again (D)", lambda t: t.keys("D"), r"dense latents shown"),
    Step("sort (f): a verified level by its actual Δ", lambda t: t.keys("f"), r"sorted by",
         all_of(has(r"the target's level sorted by \|actual Δ\|", status_line, "status"), has(r"↓act"))),
    Step("copy (y): the whole id, over OSC 52", lambda t: t.keys("y"), r"copied ",
         has(r"copied blocks\.\d\.hook_\w+:\d+@\d+ ", status_line, "status")),
    Step("pin (P): ⚑ on the row", lambda t: t.keys("P"), r"pinned ", has("⚑")),
    Step("note (N): saved", lambda t: (t.keys("N"), t.wait("Note on", 10), t.type("checked by hand"), t.keys("Enter")),
         r"note on .* saved"),
    Step("ablate the level's verified rows (A): both Δs", lambda t: t.keys("A"), r"ablated \d\d+: .* · the top",
         same_deltas),
    Step("A again undoes the group", lambda t: t.keys("A"), r"ablated [12]: .* · removed", same_deltas),
    Step("mean mode (M): said on the status line", lambda t: t.keys("M"), r"mean mode:"),
    Step("back to zero mode (M)", lambda t: t.keys("M"), r"zero mode:"),
    Step("ablate the latent at every position (E): both Δs", lambda t: t.keys("E"), r"ablated \d+: .* · L3\.pre:\d+ at",
         same_deltas),
    Step("E again undoes it", lambda t: t.keys("E"), r"ablated \d+: .* · removed", same_deltas),
    Step("jump to the pin (J)", lambda t: t.keys("J"), r"pin 1 of 1: "),
    Step("occurrences of the node (O)", lambda t: t.keys("O"), r"appears once in the tree|occurrence \d+ of \d+"),
    Step("a sample with a newline: ⏎ on one line", persona, r"traced ", one_line_prompt, seconds=60),
    Step("samples reset the metric: the persona is traced with logit-mean", lambda t: None, r"traced",
         has(r"traced '.*' @\d+: logit-mean", status_line, "status")),
    Step("a cancelled trace greys the old tree; a does not ablate it", cancel_new_prompt, r"previous prompt",
         all_of(has(r"previous prompt \(cancelled\)", root_line, "the root row"),
                has(r"the tree is for the previous prompt", status_line, "status"))),
    Step("contrast screen: the prompt and rule use the width", contrast, r"mode zero",
         all_of(has(r"prompt The Colosseum is in the city of( and on){5} and…"),  # the whole width
                has(r"rule \(\?i\)\\b\(who cares\|nobody cares\|ugh\|reckless\\w\*\|ignore\\w\*\)\\b  mode zero"))),
    Step("close the contrast screen", lambda t: t.keys("Escape"), r"f1 Help"),
]

FAILED_LOAD = Step("a failed load shows the SAE and the reason", lambda t: None, r"load failed",
                   all_of(has(r"load failed: SAE directory '/", status_line, "status"),
                          has(r"does not exist")), seconds=120)  # the reason, at the end of the text, on the right


def run(steps: list[Step], command: list[str], env: dict[str, str], quiet: bool) -> bool:
    tmux = Tmux(command, env)
    ok = True
    try:
        for step in steps:
            start = time.monotonic()
            step.act(tmux)
            seen = tmux.wait(step.wait, step.seconds)
            time.sleep(0.4)  # the rest of the screen is drawn right after the line waited for
            screen = tmux.screen()
            why = step.check(screen) if seen else f"the screen never showed /{step.wait}/ in {step.seconds:.0f} s"
            ok = ok and why is None
            print(f"{'PASS' if why is None else 'FAIL'}  {step.name}  ({time.monotonic() - start:.1f} s)"
                  + (f": {why}" if why else ""))
            if why or not quiet:
                print("\n".join("    │" + line for line in screen.splitlines()), flush=True)
            if not seen:
                break  # later steps start from a screen this one never reached
    finally:
        tmux.close()
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="print screens of failed steps only")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="tracer-80x24-")
    env = {"TERM": "xterm-256color", "PYTHONPATH": str(ROOT), "TRACER_TUI_DATA_DIR": f"{home}/data",
           "TRACER_TUI_CONFIG_DIR": f"{home}/config", "HF_HUB_OFFLINE": "1"}
    app = [sys.executable, "-m", "tracer_tui.cli", "--no-mouse"]
    ok = run(STEPS, app, env, args.quiet)
    missing = f"{home}/no-such-sae-folder/with/a/long/path/blocks.3.hook_resid_pre"
    ok = run([FAILED_LOAD], [*app, "--sae", missing], env, args.quiet) and ok
    print("ALL PASS" if ok else "SOME STEPS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
