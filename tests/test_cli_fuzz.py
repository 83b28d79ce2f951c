"""Fuzz the CLI's flags: "unexpected" means a bug (docs/errors.md, "Faults").

Generated values (text, non-UTF-8 argv, huge and negative integers, NaN/inf and huge floats) go to every flag of
every subcommand, in process, on the tiny bundle. A run fails the test when stderr says "unexpected", when it exits
with anything but 0 (done) or 2 (refused, one line), or when it exits 0 with ``--json`` and stdout is not strict
JSON (no NaN/Infinity). Seeds are fixed (derandomized) and examples bounded, so the run is repeatable and short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracer_tui.cli import main

PROMPT = "When Mary and John went to the store, John gave a drink to"
SITE = "blocks.0.hook_resid_pre"

# TRACER_TUI_FUZZ_EXAMPLES raises the count for a longer hunt (the default keeps the file well under a minute)
FUZZ = settings(max_examples=int(os.environ.get("TRACER_TUI_FUZZ_EXAMPLES", "30")), deadline=None,
                derandomize=True, database=None, suppress_health_check=list(HealthCheck))

# argv never holds NUL; anything else can arrive, including bytes that are not UTF-8 (surrogate-escaped)
TEXT = st.one_of(st.text(st.characters(blacklist_characters="\x00"), max_size=24),
                 st.binary(max_size=12).filter(lambda b: b"\x00" not in b).map(os.fsdecode),
                 st.sampled_from(["", " ", "-", "--", "=", "@", "~nouser/x", "/", "/dev/null", "/etc/passwd",
                                  "/proc/self", " Mary", f"{SITE}:1", f"{SITE}:1@2", f"{SITE}:1@2=3"]))
INTS = st.one_of(st.integers(-(10**30), 10**30), st.integers(-3, 300),
                 st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63, 2**64, 10**6, 10**7]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "1e-320", "0", "-0", "1e6", "2e70"]))
NUMBERISH = st.one_of(INTS.map(str), FLOATS, TEXT)

BASE = {"trace": ["trace", PROMPT],
        "contrast": ["contrast", PROMPT, "--rule", "a", "--samples", "3", "--max-tokens", "2"],
        "steer": ["steer", PROMPT, "--latent", f"{SITE}:1", "--rule", "a", "--samples", "2", "--max-tokens", "2"],
        "info": ["info"]}

FLAGS = {
    "trace": {"--target": TEXT, "--target-id": NUMBERISH, "--position": NUMBERISH, "--foil": TEXT,
              "--top": NUMBERISH, "--depth": NUMBERISH, "--min-attr": NUMBERISH, "--verify": NUMBERISH,
              "--ablate": st.one_of(TEXT, FLOATS.map(lambda x: f"{SITE}:1@2={x}"),
                                    INTS.map(lambda i: f"{SITE}:{i}@2"), INTS.map(lambda i: f"{SITE}:1@{i}")),
              "--device": TEXT, "--dtype": TEXT, "--sae": TEXT, "--model": TEXT, "prompt": TEXT},
    "contrast": {"--samples": NUMBERISH, "--max-tokens": NUMBERISH, "--temperature": NUMBERISH,
                 "--seed": NUMBERISH, "--top": NUMBERISH, "--label": TEXT, "--stop": TEXT, "--rule": TEXT,
                 "--keywords": TEXT, "--completions": TEXT, "--means-text": TEXT, "--mode": TEXT},
    "steer": {"--alpha": NUMBERISH, "--multiplier": NUMBERISH, "--random": NUMBERISH, "--seed": NUMBERISH,
              "--temperature": NUMBERISH, "--max-tokens": NUMBERISH, "--samples": NUMBERISH, "--latent": TEXT},
    "info": {"--device": TEXT, "--dtype": TEXT, "--sae": TEXT},
}


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} in the JSON output")

    return json.loads(text, parse_constant=refuse)


def _check(capsys, argv, as_json: bool = True):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refusals (one line, exit 2, via the CLI's parser)
        code = exit_.code
    out, err = capsys.readouterr()
    assert "unexpected" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert out == "" and err.count("\n") == 1 and err.startswith("tracer-tui: error: "), (argv, out, err)
    elif as_json:
        _strict_json(out)


@pytest.mark.parametrize("command", list(FLAGS))
def test_generated_flag_values_never_say_unexpected(capsys, bundle_dir, command):
    flags = FLAGS[command]

    @FUZZ
    @given(st.data())
    def run(data):
        flag = data.draw(st.sampled_from(sorted(flags)), label="flag")
        value = data.draw(flags[flag], label="value")
        argv = list(BASE[command])
        if flag == "prompt":
            argv[1] = value
            extra = []
        else:
            extra = [f"{flag}={value}"]  # '=' so values starting with '-' stay values
        if flag != "--model":
            extra += ["--model", str(bundle_dir)]
        _check(capsys, argv + extra + ["--json"])

    run()


@FUZZ
@given(flag=st.sampled_from(["--tokens", "--repeat"]), value=NUMBERISH)
def test_generated_bench_values_never_say_unexpected(capsys, flag, value):
    # only the refusals are fuzzed here: a valid size runs the real (slow) benchmark, which test_bench.py covers
    argv = ["bench", "--tiny", "--json", f"{flag}={value}"]
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is not None and (2 <= number <= 160 if flag == "--tokens" else 1 <= number <= 1000):
        argv.append("--repeat=0")  # keep it a refusal
    _check(capsys, argv)


@pytest.mark.parametrize("argv", [["trace", PROMPT, "--json"], ["info", "--json"]], ids=["trace", "info"])
def test_closed_stdout_is_never_unexpected(bundle_dir, argv):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-m", "tracer_tui.cli", *argv, "--model", str(bundle_dir)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, timeout=300,
                         preexec_fn=lambda: os.close(1))
    assert "unexpected" not in out.stderr and out.returncode == 2, out.stderr
    assert "standard output is closed" in out.stderr
