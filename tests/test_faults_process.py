"""Faults seen from outside the process: out-of-memory on the command line, SIGKILL in the middle of a session
save, and the terminal hanging up under a real pseudo-terminal (an SSH drop)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tracer_tui.cli import main
from tracer_tui.core.session import LAST, load_session, resolve_resume, save_session, Session

PROMPT = "When Mary and John"
OOM = ("tracer-tui: error: out of memory on the device: try a shorter prompt, fewer SAEs (--sae), a smaller --top, "
       "or use --device cpu\n")


@pytest.mark.parametrize("where", ["trace", "ablate"])
def test_cli_out_of_memory_is_one_line_with_a_suggestion(capsys, bundle_dir, monkeypatch, where):
    import torch

    from tracer_tui.engine.trace import Trace
    from tracer_tui.engine.tracer import Tracer

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.11 GiB total)")

    monkeypatch.setattr(Tracer if where == "trace" else Trace, where, oom)
    argv = ["trace", PROMPT, "--model", str(bundle_dir), "--json"]
    code = main(argv + (["--ablate", "blocks.0.hook_resid_pre:1@2"] if where == "ablate" else []))
    out, err = capsys.readouterr()
    assert (code, out, err) == (1, "", OOM)


SAVER = r"""
import sys
from pathlib import Path
from tracer_tui.core.session import Session, save_session

path = Path(sys.argv[1])
nodes = [{"id": f"blocks.0.hook_resid_pre:{i}@3", "label": "x" * 60} for i in range(3000)]
graph = {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "edges": []}
i = 0
while True:
    i += 1
    save_session(Session(model="m", saes=["s"], prompt=f"p{i}", graph=graph,
                         ablations={f"blocks.0.hook_resid_pre:{i}@3": 0.0}), path)
    if i == 1:
        print("ready", flush=True)
"""


def test_sigkill_during_autosave_never_leaves_a_broken_session(tmp_path):
    """A process saving in a loop (a ~300 kB session) is killed at random moments: the session file and ``last``
    always parse, because every save is temp file + fsync + rename."""
    path = tmp_path / "sessions" / "s.json"
    rng = random.Random(7)
    prompts = []
    for _ in range(12):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.12))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        session = load_session(path)  # raises SessionError if the file were half-written
        assert resolve_resume(LAST, path.parent) == path.resolve()
        prompts.append(session.prompt)
    assert all(p.startswith("p") for p in prompts)
    assert any(p != "p1" for p in prompts)  # the kills did land during later saves
    # Temp files a kill left behind are swept by the next save once they are stale (never a fresh one).
    debris = list(path.parent.glob(".*.tmp"))
    for tmp in debris:
        os.utime(tmp, (time.time() - 3600, time.time() - 3600))
    save_session(Session(model="m", saes=["s"], prompt="after"), path)
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_terminal_hangup_saves_the_session_and_exits_cleanly(bundle_dir, tmp_path):
    """The real app in a real pty: trace, then the terminal goes away (master closed, so the kernel sends SIGHUP,
    as when an SSH connection drops). The session is saved again and the process exits with status 0."""
    pty = pytest.importorskip("pty")
    import select

    data = tmp_path / "data"
    env = dict(os.environ, TRACER_TUI_DATA_DIR=str(data), TRACER_TUI_CONFIG_DIR=str(tmp_path / "config"),
               TERM="xterm-256color", COLUMNS="100", LINES="30")
    argv = [sys.executable, "-m", "tracer_tui.cli", "--model", str(bundle_dir), "--prompt", PROMPT]
    try:
        pid, fd = pty.fork()
    except OSError as err:
        pytest.skip(f"no pseudo-terminal available: {err}")
    if pid == 0:  # the child: become the app
        os.execvpe(argv[0], argv, env)
    output = bytearray()
    closed = False

    def pump_until(predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    output.extend(os.read(fd, 65536))
                except OSError:
                    return predicate()
        return predicate()

    last = data / "sessions" / LAST
    try:
        # --prompt traces on start, then autosaves
        assert pump_until(lambda: last.is_file() and last.read_text().strip(), 120), output[-2000:]
        session = Path(last.read_text().strip())
        assert pump_until(lambda: session.is_file(), 30)
        saved = json.loads(session.read_text())["saved"]
        time.sleep(0.05)
        os.close(fd)  # hang up
        closed = True
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the app did not exit within 60 s of the hang-up")
        assert os.waitstatus_to_exitcode(status) == 0
        after = json.loads(session.read_text())
        assert after["prompt"] == PROMPT and after["saved"] > saved
    finally:
        if not closed:
            os.close(fd)
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
