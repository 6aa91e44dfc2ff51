"""Atomic output dirs with a completion marker (issue 18): skip when made from the same inputs, redo naming what
changed, never a half-written dir, never a dir that is not the builder's."""

import json
import logging

import pytest

from espnet_ext.utils import atomic_dir
from espnet_ext.utils.atomic_dir import atomic_output_dir, options_fingerprint
from espnet_ext.utils.stage_marker import DONE_MARKER, read_marker

FP = {"builder": "test", "option:seed": "0"}


def build(out_dir, fp=FP, content="new", **kwargs):
    out = atomic_output_dir(out_dir, fp, **kwargs)
    if not out.complete:
        with out as tmp:
            (tmp / "data.txt").write_text(content)
            out.record["stats"] = {"n": 1}
    return out


def test_builds_aside_then_skips_when_the_fingerprint_is_the_same(tmp_path, caplog):
    out_dir = tmp_path / "out"
    out = atomic_output_dir(out_dir, FP)
    assert not out.complete and out.reason is None and out.tmp == tmp_path / ".out.partial"
    with out as tmp:
        assert tmp == tmp_path / ".out.partial" and tmp.is_dir() and not out_dir.exists()
        (tmp / "data.txt").write_text("v1")
        out.record["stats"] = {"n": 1}
    assert out.complete and (out_dir / "data.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .partial, no .old, no marker temp file
    assert read_marker(out_dir / DONE_MARKER) == FP
    assert json.loads((out_dir / DONE_MARKER).read_text())["stats"] == {"n": 1}
    with caplog.at_level(logging.INFO):
        again = atomic_output_dir(out_dir, dict(FP))
    assert again.complete and again.record["stats"] == {"n": 1}
    assert f"{out_dir} is complete; skipping (delete {out_dir / DONE_MARKER} to redo)" in caplog.text
    with pytest.raises(RuntimeError, match="is complete"):
        with again:
            pass


def test_a_changed_fingerprint_redoes_the_dir_naming_the_change(tmp_path, caplog):
    out_dir = tmp_path / "out"
    build(out_dir, content="v1")
    with caplog.at_level(logging.INFO):
        out = build(out_dir, {"builder": "test", "option:seed": "1"}, content="v2")
    assert out.reason == "option seed changed ('0' -> '1') since it was made"
    assert f"{out_dir} is out of date: option seed changed ('0' -> '1') since it was made; redoing it" in caplog.text
    assert (out_dir / "data.txt").read_text() == "v2" and read_marker(out_dir / DONE_MARKER)["option:seed"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_exception_leaves_the_old_dir_untouched_and_no_partial_dir(tmp_path):
    out_dir = tmp_path / "out"
    build(out_dir, content="v1")
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    out = atomic_output_dir(out_dir, {"builder": "test", "option:seed": "1"})
    with pytest.raises(KeyboardInterrupt):
        with out as tmp:
            (tmp / "data.txt").write_text("half")
            raise KeyboardInterrupt  # Ctrl-C midway
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(ValueError, match="boom"):  # a first build that fails leaves nothing at all
        with atomic_output_dir(tmp_path / "new", FP):
            raise ValueError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_marker_is_written_atomically_before_the_dir_is_renamed(tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    build(out_dir, content="v1")
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}

    def fail(marker, current, extra=None):  # the disk fills up while the marker is written
        raise OSError("No space left on device")
    monkeypatch.setattr(atomic_dir, "write_marker", fail)
    with pytest.raises(OSError, match="No space"):
        build(out_dir, {"builder": "test", "option:seed": "1"}, content="v2")
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    monkeypatch.undo()
    renamed = []
    real_rename = atomic_dir.os.rename

    def watch(src, dst):  # when the new dir is renamed into place it already holds its complete marker
        renamed.append(read_marker(f"{src}/{DONE_MARKER}"))
        real_rename(src, dst)
    monkeypatch.setattr(atomic_dir.os, "rename", watch)
    build(out_dir, {"builder": "test", "option:seed": "1"}, content="v2")
    assert renamed[-1] == {"builder": "test", "option:seed": "1"}
    assert not list(out_dir.glob(f"{DONE_MARKER}.tmp*"))


def test_a_killed_run_leaves_only_a_partial_dir_that_the_next_run_removes(tmp_path):
    stale = tmp_path / ".out.partial"
    stale.mkdir()
    (stale / "half.wav").write_text("x")
    out = build(tmp_path / "out")
    assert out.complete and not (tmp_path / "out" / "half.wav").exists() and not stale.exists()


def test_a_dir_that_is_not_the_builders_is_refused_or_replaced(tmp_path, caplog):
    foreign = tmp_path / "data"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("x")
    with pytest.raises(RuntimeError, match=r"exists, is not empty and has no \.done marker of this builder; remove it"):
        atomic_output_dir(foreign, FP)
    assert (foreign / "mine.txt").exists()
    with caplog.at_level(logging.INFO):
        build(foreign, foreign="replace")
    assert "is out of date: it has no completion marker; redoing it" in caplog.text
    assert not (foreign / "mine.txt").exists() and (foreign / "data.txt").exists()
    with pytest.raises(RuntimeError, match="holds the output of test, not of other; remove it or choose another"):
        atomic_output_dir(foreign, {"builder": "other"})
    (foreign / DONE_MARKER).write_text("")  # an empty marker: not this builder's (refuse) or redone (replace)
    with pytest.raises(RuntimeError, match="has a .done marker this builder did not write"):
        atomic_output_dir(foreign, FP)
    assert "made by an older espnet_ext" in atomic_output_dir(foreign, FP, foreign="replace").reason
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build(empty).complete  # an empty dir is no one's


def test_an_old_marker_format_is_read_through_legacy(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / DONE_MARKER).write_text(json.dumps({"args": {"seed": 0}, "counts": {"a": 2}}))

    def legacy(old):
        return options_fingerprint("prep", old["args"])
    out = atomic_output_dir(out_dir, options_fingerprint("prep", {"seed": 0}), legacy=legacy)
    assert out.complete and out.record["counts"] == {"a": 2}  # finished by an older version: not redone
    out = atomic_output_dir(out_dir, options_fingerprint("prep", {"seed": 1}), legacy=legacy)
    assert out.reason == "option seed changed ('0' -> '1') since it was made"
    (out_dir / DONE_MARKER).write_text(json.dumps(["another", "layout"]))  # legacy fails: not this builder's
    with pytest.raises(RuntimeError, match="did not write"):
        atomic_output_dir(out_dir, options_fingerprint("prep", {"seed": 0}), legacy=legacy)


def test_options_fingerprint_and_bad_arguments(tmp_path):
    assert options_fingerprint("p", {"dir": "/x", "max": 30.0, "min": None, "langs": ["en", "zh"]}) == {
        "builder": "p", "option:dir": "/x", "option:max": "30.0", "option:min": "null",
        "option:langs": '["en", "zh"]'}
    with pytest.raises(ValueError, match="no name of its own"):
        atomic_output_dir(tmp_path / "..", FP)
    with pytest.raises(ValueError, match="foreign must be"):
        atomic_output_dir(tmp_path / "x", FP, foreign="delete")
