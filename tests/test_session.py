"""Session files: round trip, atomic writes, 'last', and clear refusals for damaged or foreign sessions."""

from __future__ import annotations

import json
import os
import re

import pytest

from tracer_tui.core.session import (LAST, Session, SessionError, atomic_write, load_session, new_session_path,
                                resolve_resume, save_session)


def _session(**kw) -> Session:
    base = dict(model="/m", saes=["/s/a", "/s/b"], prompt="When Mary and John",
                target={"token": " Mary", "id": 5, "position": 6}, metric="logit-diff", foil=" John",
                expanded=[{"node": "blocks.1.hook_resid_post:12@6", "offset": 0}, {"node": "target", "offset": 10}],
                ablations={"blocks.1.hook_resid_post:12@6": 0.0, "blocks.0.hook_resid_pre:3@2": 2.0},
                graph={"directed": True, "nodes": [], "edges": []})
    return Session(**{**base, **kw})


def test_round_trip_and_last(tmp_path):
    s = _session()
    path = new_session_path(s.prompt, tmp_path)
    save_session(s, path)
    assert resolve_resume(LAST, tmp_path) == path.resolve()
    back = load_session(path)
    assert back.to_json() == s.to_json()


def test_atomic_write_keeps_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    atomic_write(path, "old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        atomic_write(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left behind


@pytest.mark.parametrize("text,words", [
    ('{"format": "tracer-tui-session", "ver', "corrupt or truncated"),
    ("", "corrupt or truncated"),
    ('{"format": "something-else"}', "not a tracer-tui session"),
    ('{"format": "tracer-tui-session", "version": 99}', "version 99"),
    ('{"format": "tracer-tui-session", "version": 1, "model": "m"}', "damaged"),
    ('{"format": "tracer-tui-session", "version": 1, "model": "m", "saes": [], "prompt": "p", "ablations": [1]}',
     "damaged: field 'ablations' must be an object of node id -> scale, got list [1]"),
    ('{"format": "tracer-tui-session", "version": 1, "model": "m", "saes": "abc", "prompt": "p"}',
     "damaged: field 'saes' must be a list of strings, got string 'abc'"),
    ('{"format": "tracer-tui-session", "version": 1, "model": "m", "saes": [], "prompt": "p", '
     '"expanded": [{"node": "target", "offset": 1e999}]}', "damaged: field 'expanded[0].offset' must be an integer"),
    ('{"format": "tracer-tui-session", "version": 1, "model": "m", "saes": [], "prompt": "p", "metric": "nope"}',
     "damaged: field 'metric' must be one of logprob"),
    ('{"format": "tracer-tui-session", "version": 1, "model": "m", "saes": [], "prompt": "p", "ablations": '
     '{"a": NaN}}', "must map node ids to finite numbers (the scale of a is not one)"),
    ("[" * 100000, "corrupt or truncated"),
])
def test_damaged_sessions_are_refused_clearly(tmp_path, text, words):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SessionError, match=re.escape(words)):
        load_session(path)
    assert path.read_text() == text


def test_other_model_is_refused():
    s = _session()
    s.check_model("/m", ["/s/b", "/s/a"])
    with pytest.raises(SessionError, match="gpt2"):
        s.check_model("gpt2", ["/s/a", "/s/b"])


def test_nothing_to_resume(tmp_path):
    with pytest.raises(SessionError, match="no saved session"):
        resolve_resume(LAST, tmp_path)
    with pytest.raises(SessionError, match="does not exist"):
        load_session(tmp_path / "missing.json")


def test_file_is_plain_json(tmp_path):
    path = save_session(_session(), tmp_path / "x.json")
    data = json.loads(path.read_text())
    assert data["format"] == "tracer-tui-session" and data["ablations"]["blocks.0.hook_resid_pre:3@2"] == 2.0


def test_sessions_from_before_the_foil_rename_still_load(tmp_path):
    """Sessions saved before the logit-diff token was renamed 'foil' kept it under "contrast"."""
    data = _session().to_json()
    data["contrast"] = data.pop("foil")
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert load_session(path).foil == " John"
