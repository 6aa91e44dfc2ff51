"""Fingerprinted completion markers (issue 17): a stage is skipped only when its inputs are unchanged."""

import json
import subprocess
import sys

import pytest

from espnet_ext.bin import stage_marker as cli
from espnet_ext.utils.stage_marker import (DONE_MARKER, code_digest, file_digest, fingerprint, read_marker,
                                           stale_reason, write_marker)


def test_file_digest_is_sha256_and_missing_is_named(tmp_path):
    import hashlib

    f = tmp_path / "a.txt"
    f.write_bytes(b"x" * (3 << 20))  # larger than one read block
    assert file_digest(f) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    assert file_digest(tmp_path / "nope") == "missing"


def test_code_digest_follows_the_named_modules_only():
    a = code_digest(["espnet_ext.bin.train_sentencepiece"])
    assert a == code_digest(["espnet_ext.bin.train_sentencepiece", "espnet_ext.bin.train_sentencepiece"])
    assert a != code_digest(["espnet_ext.bin.compute_token_priors"])
    with pytest.raises(ValueError, match="code module 'espnet_ext.bin.no_such_stage' not found"):
        code_digest(["espnet_ext.bin.no_such_stage"])


def test_stale_reason_names_what_changed(tmp_path):
    text = tmp_path / "text"
    text.write_text("u1 a\n")
    marker = tmp_path / "out" / DONE_MARKER
    before = fingerprint({"text": text}, {"nbpe": "300"})
    assert stale_reason(marker, before) == "it has no completion marker"
    write_marker(marker, before)
    assert read_marker(marker) == before and stale_reason(marker, before) is None
    assert not list(marker.parent.glob("*.tmp.*"))  # written by rename
    text.write_text("u1 b\n")
    after = fingerprint({"text": text}, {"nbpe": "50", "bpe_type": "unigram"})
    assert stale_reason(marker, after) == ("text changed; option bpe_type is new ('unigram'); "
                                           "option nbpe changed ('300' -> '50') since it was made")
    marker.write_text("")  # the empty marker older versions wrote
    assert "records no input fingerprint (made by an older espnet_ext)" in stale_reason(marker, before)


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "espnet_ext.bin.stage_marker", *map(str, args)],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout.strip(), proc.stderr


def test_check_commit_skip_redo(tmp_path):
    out, conf = tmp_path / "exp" / "asr_x", tmp_path / "train.yaml"
    conf.write_text("max_epoch: 1\n")
    fp = ["--file", f"config={conf}", "--option", "asr_args=--seed 1", "--code", "espnet_ext.bin.asr_train"]
    assert run_cli("check", "--dir", out, *fp)[:2] == (0, "run")
    out.mkdir(parents=True)
    assert not (out / DONE_MARKER).exists()  # nothing is complete before commit
    assert run_cli("commit", "--dir", out)[0] == 0
    assert (out / DONE_MARKER).is_file() and not (tmp_path / "exp" / ".asr_x.fingerprint").exists()
    rc, action, log = run_cli("check", "--dir", out, *fp)
    assert (rc, action) == (0, "skip") and f"{out} is complete; skipping" in log
    conf.write_text("max_epoch: 2\n")
    rc, action, log = run_cli("check", "--dir", out, *fp)
    assert (rc, action) == (0, "redo")
    assert f"{out} is out of date: config changed since it was made; redoing it" in log


def test_partial_run_resumes_only_from_the_same_inputs(tmp_path):
    out = tmp_path / "asr_x"
    fp = ["--partial", ".started", "--option", "asr_args=--seed 1"]
    assert run_cli("check", "--dir", out, *fp)[1] == "run"
    assert run_cli("start", "--dir", out, "--partial", ".started")[0] == 0  # training begins, then is killed
    rc, action, log = run_cli("check", "--dir", out, *fp)
    assert action == "resume" and "started from the same inputs and not finished; resuming it" in log
    rc, action, log = run_cli("check", "--dir", out, "--partial", ".started", "--option", "asr_args=--seed 2")
    assert action == "redo"
    assert "cannot be resumed (option asr_args changed ('--seed 1' -> '--seed 2') since it was made)" in log


def test_cli_errors(tmp_path):
    rc, _, log = run_cli("commit", "--dir", tmp_path / "never_checked")
    assert rc == 1 and ".never_checked.fingerprint not found: run 'check' before the stage" in log
    rc, _, log = run_cli("check", "--dir", tmp_path / "x", "--code", "espnet_ext.bin.nope")
    assert rc == 1 and "code module 'espnet_ext.bin.nope' not found" in log
    with pytest.raises(SystemExit):
        cli.get_parser().parse_args(["check", "--dir", "x", "--option", "no_equals_sign"])


def test_marker_is_json_with_sorted_inputs(tmp_path):
    write_marker(tmp_path / DONE_MARKER, {"option:b": "1", "option:a": "2"})
    assert list(json.loads((tmp_path / DONE_MARKER).read_text())["inputs"]) == ["option:a", "option:b"]
