"""The contrast screen's typed settings get the same checks and bounds as the CLI's flags."""

import pytest

from tracer_tui.core.defaults import MAX_SAMPLES, MAX_SEED
from tracer_tui.core.errors import TracerError
from tracer_tui.tui.contrast_settings import ContrastSettings, parse_sizes, parse_strength, sizes_text


def test_sizes_round_trip_through_their_text():
    s = parse_sizes("samples=64 tokens=12 temperature=0.5 seed=7 top=5 steer=8 random=2", ContrastSettings())
    assert (s.samples, s.max_tokens, s.temperature, s.seed, s.top_k, s.steer_samples, s.random) == (
        64, 12, 0.5, 7, 5, 8, 2)
    assert parse_sizes(sizes_text(s), ContrastSettings()) == s


@pytest.mark.parametrize("text, message", [
    (f"samples={MAX_SAMPLES + 1}", "samples must be between 1 and"),
    ("samples=10000000", "more would not fit in memory"),
    ("samples=2.5", "samples must be a whole number"),
    ("samples=inf", "samples must be a whole number"),
    ("samples=nan", "samples must be a whole number"),
    ("tokens=0", "tokens must be at least 1"),
    (f"seed={MAX_SEED * 4}", "seed must be between 0 and"),
    ("seed=2e70", "seed must be between 0 and"),
    ("temperature=-1", "temperature must be >= 0"),
    ("temperature=1e-9", "temperature must be 0 (greedy) or at least"),
    ("random=-1", "random must be between 0 and"),
    ("steer=0", "steer must be between 1 and"),
    ("top=ten", "top must be a number, got 'ten'"),
    ("colour=red", "can't read 'colour=red'"),
    ("", "nothing to change"),
])
def test_bad_sizes_are_one_line_errors_and_change_nothing(text, message):
    before = ContrastSettings()
    with pytest.raises(TracerError) as err:
        parse_sizes(text, before)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, multiplier, alpha", [("4x", 4.0, None), ("-2.5×", -2.5, None), ("12.5", 4.0, 12.5)])
def test_strength_is_a_multiple_or_an_absolute_alpha(text, multiplier, alpha):
    s = parse_strength(text, ContrastSettings())
    assert (s.multiplier, s.alpha) == (multiplier, alpha)


@pytest.mark.parametrize("text", ["0", "0x", "nan", "infx", "strong"])
def test_bad_strengths_are_refused(text):
    with pytest.raises(TracerError, match="strength"):
        parse_strength(text, ContrastSettings())
