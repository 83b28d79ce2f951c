"""Hang-up race: close the terminal while tracer-tui is busy and time how long its processes outlive it.

Each try starts the real app (``python -m tracer_tui.cli``) in a private tmux server (``tmux -L``, 80×24,
TERM=xterm-256color), puts it in one busy state, then kills the tmux session: the kernel hangs up the app's
terminal (SIGHUP), as when an SSH connection drops. It measures the time until the app and every process it
started are gone, and checks that every session file left behind still loads.

Busy states (taken in turn): ``load`` (the model is still loading), ``trace`` (Enter, killed mid-trace),
``keys`` (a few hundred keys sent at once, killed while they are queued), ``resume`` (``--resume`` of a session
with many expansions, killed mid-replay), ``verify`` (v on the root level, killed mid-verify).

    python scripts/hangup_race.py --tries 50          # the demo model; prints k/N within 5 s, exit 1 if k < N
    python scripts/hangup_race.py --tries 5 --model BUNDLE --expansions 40 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import LONG_PROMPT, ROOT

STATES = ("load", "trace", "keys", "resume", "verify")
BOUND_S = 5.0
GIVE_UP_S = 30.0  # a process still alive this long after the hang-up is reported (and killed) as stuck
# Keys a user mashes: tree moves, expand, ablate, scale, verify, sort, dialogs (g, s, w, e) and their answers,
# the contrast screen (n) and back. Never q: quitting would end the busy state early.
MASH = "jjjkkllhhlavfsw2\rjlag x\r\x1bbn\x1bec\x1b"


@dataclass
class Try:
    n: int
    state: str
    exit_s: float | None  # hang-up to the last of the app's processes gone (None: still alive at GIVE_UP_S)
    processes: int  # the app and the processes it had started, at the hang-up
    sessions_ok: bool  # every session file left behind loads
    status: str = ""  # the app's status line just before the hang-up (what it was busy with)
    note: str = ""


def tmux(sock: str, *args: str, check: bool = True) -> str:
    out = subprocess.run(["tmux", "-L", sock, "-f", os.devnull, *args], capture_output=True, text=True, timeout=30)
    if check and out.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def stop_server(sock: str) -> None:
    """Kill the private tmux server and remove its socket file (tmux leaves it behind)."""
    tmux(sock, "kill-server", check=False)
    path = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / sock
    path.unlink(missing_ok=True)


def screen(sock: str) -> str:
    return tmux(sock, "capture-pane", "-p", "-t", "app", check=False)


def wait_screen(sock: str, texts: tuple[str, ...], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(t in screen(sock) for t in texts):
            return True
        time.sleep(0.05)
    return False


# ---- processes (Linux /proc) --------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields after "(comm)": state, ppid, ..., starttime at [19]


def descendants(pid: int) -> dict[int, str]:
    """``pid`` and every process below it: {pid: its start time} (the start time tells a reused pid apart)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        if (fields := _stat(p)) is not None:
            found[p] = fields[19]
            todo += children.get(p, [])
    return found


def alive(procs: dict[int, str]) -> list[int]:
    """The ones still running (a zombie has exited; only its parent's wait is missing)."""
    out = []
    for pid, start in procs.items():
        fields = _stat(pid)
        if fields is not None and fields[19] == start and fields[0] != "Z":
            out.append(pid)
    return out


def describe_stuck(pids: list[int]) -> str:
    parts = []
    for pid in pids:
        try:
            wchan = Path(f"/proc/{pid}/wchan").read_text().strip() or "-"
        except OSError:
            wchan = "?"
        fields = _stat(pid) or ["?"] * 20
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields[11].isdigit() else -1
        parts.append(f"pid {pid} state {fields[0]} wchan {wchan} cpu {cpu:.1f} s")
    return "; ".join(parts)


# ---- one try ----------------------------------------------------------------------------------------------
def build_resume_session(model: str | None, expansions: int, path: Path) -> int:
    """A session whose replay expands ``expansions`` latents (breadth first from the root), saved at ``path``."""
    from tracer_tui.core.nodes import TARGET
    from tracer_tui.core.session import Session, save_session
    from tracer_tui.engine.tracer import Tracer

    tracer = Tracer.load(model=model)
    trace = tracer.trace(LONG_PROMPT)
    chosen: list[str] = []
    frontier = [n.id for n in trace.more(TARGET)]
    while frontier and len(chosen) < expansions:
        level = [str(n) for n in frontier if not n.is_error and trace.has_upstream(n) and str(n) not in chosen]
        level = level[:expansions - len(chosen)]
        if not level:
            break
        children = trace.expand(level)
        chosen += level
        frontier = [c.id for nodes in children.values() for c in nodes]
    info, t = tracer.info(), trace.target
    save_session(Session(model=info["model"]["source"], saes=[s["source"] for s in info["saes"]], prompt=LONG_PROMPT,
                         target={"token": t.token, "id": t.id, "position": t.position}, metric=t.metric,
                         expanded=[{"node": n, "offset": 0} for n in chosen]), path)
    return len(chosen)


def sessions_ok(data: Path) -> bool:
    from tracer_tui.core.session import SessionError, load_session

    for path in (data / "sessions").glob("*.json"):
        try:
            load_session(path)
        except SessionError:
            return False
    return True


def app_command(model: str | None, data: Path, extra: list[str], stacks: Path | None) -> str:
    env = {"PYTHONPATH": str(ROOT), "TERM": "xterm-256color", "TRACER_TUI_DATA_DIR": str(data / "data"),
           "TRACER_TUI_CONFIG_DIR": str(data / "config")}
    if stacks is None:
        python = [sys.executable, "-m", "tracer_tui.cli"]
    else:  # SIGUSR1 writes every thread's stack to a file (how a stuck process is diagnosed)
        boot = (f"import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, "
                f"file=open({str(stacks)!r}, 'w'), all_threads=True); from tracer_tui.cli.main import main; "
                "sys.exit(main(sys.argv[1:]))")
        python = [sys.executable, "-c", boot]
    argv = python + (["--model", model] if model else []) + extra
    return "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(argv)


def run_try(n: int, state: str, args, rng: random.Random, resume_file: Path | None) -> Try:
    sock = f"hangup-race-{os.getpid()}-{n}"
    home = Path(tempfile.mkdtemp(prefix="hangup-race-"))
    extra = []
    if state == "resume":
        target = home / "data" / "sessions" / resume_file.name
        target.parent.mkdir(parents=True)
        shutil.copy(resume_file, target)
        extra = ["--resume", str(target)]
    stacks = home / "stacks.txt" if args.stacks else None
    tmux(sock, "new-session", "-d", "-s", "app", "-x", "80", "-y", "24", app_command(args.model, home, extra, stacks))
    note = ""
    try:
        pid = int(tmux(sock, "list-panes", "-t", "app", "-F", "#{pane_pid}").split()[0])
        if state == "load":
            time.sleep(rng.uniform(0.5, 6.0))
        else:
            # a resume starts replaying (tracing…) as soon as the model is loaded
            started = ("tracing", "traced") if state == "resume" else ("ready:",)
            if not wait_screen(sock, started, args.load_timeout):
                note = "never ready: " + " | ".join(screen(sock).split("\n")[-3:])
            if state == "resume":
                time.sleep(rng.uniform(0.0, 1.0))
            else:
                tmux(sock, "send-keys", "-t", "app", "-l", LONG_PROMPT)
                tmux(sock, "send-keys", "-t", "app", "Enter")
            if state == "trace":
                time.sleep(rng.uniform(0.0, 0.4))
            elif state == "keys":
                keys = "".join(rng.choice(MASH) for _ in range(args.keys))
                tmux(sock, "send-keys", "-t", "app", "-l", keys)
            elif state == "verify":
                wait_screen(sock, ("traced",), 60)
                tmux(sock, "send-keys", "-t", "app", "v")
                time.sleep(rng.uniform(0.0, 0.5))
        lines = [line for line in screen(sock).split("\n") if line.strip()]
        status = " ".join(lines[-2].split())[:60] if len(lines) >= 2 else ""
        procs = descendants(pid)
        start = time.monotonic()
        tmux(sock, "kill-session", "-t", "app", check=False)  # the terminal goes away: SIGHUP
        exit_s = None
        while time.monotonic() - start < GIVE_UP_S:
            if not alive(procs):
                exit_s = time.monotonic() - start
                break
            time.sleep(0.01)
        if exit_s is None:
            left = alive(procs)
            note = (note + " " if note else "") + "stuck: " + describe_stuck(left)
            if stacks is not None:
                os.kill(pid, signal.SIGUSR1)
                time.sleep(1.0)
                note += "\n" + (stacks.read_text() if stacks.exists() else "(no stacks)")
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return Try(n, state, exit_s, len(procs), sessions_ok(home / "data"), status, note)
    finally:
        stop_server(sock)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--states", default=",".join(STATES), help=f"comma-separated, from {', '.join(STATES)}")
    parser.add_argument("--model", help="model name or bundle (default: the bundled demo)")
    parser.add_argument("--bound", type=float, default=BOUND_S, help="seconds the app may take to exit")
    parser.add_argument("--expansions", type=int, default=150, help="expanded latents in the resumed session")
    parser.add_argument("--keys", type=int, default=300, help="keys sent at once in the 'keys' state")
    parser.add_argument("--load-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stacks", action="store_true", help="on a stuck process, print its threads' stacks")
    parser.add_argument("--keep", action="store_true", help="keep each try's data folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("tmux") is None:
        print("hangup_race: tmux is not installed", file=sys.stderr)
        return 2
    states = [s for s in args.states.split(",") if s]
    if unknown := set(states) - set(STATES):
        parser.error(f"unknown state(s): {', '.join(sorted(unknown))}")
    rng = random.Random(args.seed)
    resume_file = None
    with tempfile.TemporaryDirectory(prefix="hangup-race-session-") as folder:
        if "resume" in states:
            resume_file = Path(folder) / "many-expansions.json"
            count = build_resume_session(args.model, args.expansions, resume_file)
            print(f"resume session: {count} expanded latents", file=sys.stderr)
        tries = []
        for n in range(args.tries):
            t = run_try(n, states[n % len(states)], args, rng, resume_file)
            tries.append(t)
            took = "STUCK" if t.exit_s is None else f"{t.exit_s:.2f} s"
            print(f"try {n + 1:3d}/{args.tries} {t.state:7s} exit {took:>8s}  processes {t.processes}  "
                  f"sessions {'ok' if t.sessions_ok else 'BROKEN'}  [{t.status}]{'  ' + t.note if t.note else ''}",
                  file=sys.stderr, flush=True)
    within = [t for t in tries if t.exit_s is not None and t.exit_s <= args.bound and t.sessions_ok]
    times = [t.exit_s for t in tries if t.exit_s is not None]
    summary = {"tries": len(tries), "within_bound": len(within), "bound_s": args.bound,
               "max_exit_s": max(times) if times else None, "stuck": sum(t.exit_s is None for t in tries),
               "broken_sessions": sum(not t.sessions_ok for t in tries),
               "by_state": {s: [round(t.exit_s, 3) if t.exit_s is not None else None for t in tries if t.state == s]
                            for s in states}}
    if args.json:
        print(json.dumps({**summary, "runs": [asdict(t) for t in tries]}, indent=2))
    max_s = "-" if summary["max_exit_s"] is None else f"{summary['max_exit_s']:.2f} s"
    print(f"{len(within)}/{len(tries)} exited within {args.bound:g} s with valid sessions (max {max_s}, "
          f"stuck {summary['stuck']})")
    return 0 if len(within) == len(tries) else 1


if __name__ == "__main__":
    sys.exit(main())
