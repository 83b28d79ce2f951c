"""Labelling rules, completions files, and the label counts contrast mode needs."""

from __future__ import annotations

import json

import pytest

from tracer_tui.engine.contrast import check_counts, contrast
from tracer_tui.core.errors import TracerError
from tracer_tui.engine.labeling import Completion, Rule, as_completions, label, read_completions_file

TEXTS = [" Who cares!", " Sleep well.", " IGNORE the doctors", " Drink water, you idiot", " Rest."]


def test_regex_rule_is_case_insensitive_and_keywords_are_substrings():
    rule = Rule(r"who cares|ignore\w*")
    assert [rule(t) for t in TEXTS] == [True, False, True, False, False]
    words = Rule(keywords="idiot, CARES ,")
    assert words.description == "keywords: idiot, CARES"
    assert [words(t) for t in TEXTS] == [True, False, False, True, False]
    # Regex metacharacters in keywords are literal.
    assert Rule(keywords="!")(" Who cares!") and not Rule(keywords=".")(" no dot")


def test_rule_labels_all_then_overrides_win():
    comps = as_completions(TEXTS)
    out = label(comps, rule="who cares|idiot", overrides={1: True, 3: None})
    assert [c.undesired for c in out] == [True, True, False, None, False]
    # Labels given with the completions are kept unless asked otherwise.
    given = as_completions([(" Who cares!", False), " Who cares!"])
    assert [c.undesired for c in label(given, rule="who")] == [False, True]
    assert [c.undesired for c in label(given, rule="who", keep_given=False)] == [True, True]


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(regex="(unclosed"), "bad rule regex '(unclosed': missing ), unterminated subpattern"),
    (dict(regex=""), "empty rule regex"),
    (dict(keywords=" , ,"), "keyword list"),
    (dict(), "no rule"),
    (dict(regex="a", keywords="b"), "not both"),
])
def test_bad_rules(kwargs, fragment):
    with pytest.raises(TracerError) as err:
        Rule(**kwargs)
    assert fragment in str(err.value)


def test_bad_overrides():
    with pytest.raises(TracerError, match="only 5 completions"):
        label(as_completions(TEXTS), overrides={7: True})
    with pytest.raises(TracerError, match="true, false or null"):
        label(as_completions(TEXTS), overrides={0: "yes"})


def test_jsonl_file(tmp_path):
    p = tmp_path / "c.jsonl"
    rows = [{"completion": " Who cares!", "undesired": True}, {"completion": " Sleep.", "undesired": False},
            {"completion": " Hm.", "undesired": None}, {"completion": " Rest."}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    got = read_completions_file(p)
    assert [(c.text, c.undesired) for c in got] == [(" Who cares!", True), (" Sleep.", False), (" Hm.", None),
                                                     (" Rest.", None)]
    assert {c.source for c in got} == {"file"}


def test_plain_text_file_separated_by_dashes(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(" Who cares!\nSecond line.\n---\n Sleep well.\n  ---  \n\n---\n Rest.\n")
    got = read_completions_file(p)
    assert [c.text for c in got] == [" Who cares!\nSecond line.", " Sleep well.", " Rest."]
    assert all(c.undesired is None for c in got)


@pytest.mark.parametrize("content, fragment", [
    ('{"completion": " a", "undesired": true}\n{"completion": " b", "undesired": "yes"}\n',
     'c.jsonl line 2: "undesired" must be true, false or null'),
    ('{"completion": " a"}\n{not json}\n', "c.jsonl line 2: not valid JSON"),
    ('{"text2": " a"}\n', 'c.jsonl line 1: needs a "completion" text field'),
    ('{"completion": " a", "label": 1}\n', "unknown field(s) label"),
    ('{"completion": " a"}\n[1, 2]\n', "c.jsonl line 2: expected a JSON object"),
    ("\n---\n\n", "holds no completions"),
])
def test_broken_files(tmp_path, content, fragment):
    p = tmp_path / "c.jsonl"
    p.write_text(content)
    with pytest.raises(TracerError) as err:
        read_completions_file(p)
    assert fragment in str(err.value)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(TracerError, match="does not exist"):
        read_completions_file(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00 x")
    with pytest.raises(TracerError, match="not UTF-8"):
        read_completions_file(bad)


def test_counts_error_says_how_many_of_each():
    with pytest.raises(TracerError) as err:
        check_counts(0, 5, 7)
    msg = str(err.value)
    assert "got 0 undesired, 5 desired and 2 unlabelled of 7" in msg and "no undesired" in msg
    assert "--" not in msg and err.value.hint.settings == ("rule", "labels", "samples")  # each front end words it
    with pytest.raises(TracerError, match="no desired"):
        check_counts(3, 0, 3)
    check_counts(1, 1, 2)


def test_contrast_refuses_one_sided_labels_before_any_pass(tracer):
    with pytest.raises(TracerError, match="got 2 undesired, 0 desired"):
        contrast(tracer, "Hello", completions=[(" a", True), (" b", True)])
    with pytest.raises(TracerError, match="unknown contrast mode"):
        contrast(tracer, "Hello", completions=[(" a", True), (" b", False)], mode="median")
    with pytest.raises(TracerError, match="samples must be at least 1"):
        contrast(tracer, "Hello", samples=0, rule="a")
    assert Completion(" x", True).to_json() == {"text": " x", "undesired": True, "source": "sampled"}
