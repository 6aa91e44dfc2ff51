"""Fingerprinted completion markers (issue 17): a stage is skipped only when its inputs are unchanged."""

import json
import subprocess
import sys

import pytest

from espnet_ext.bin import stage_marker as cli
from espnet_ext.utils.stage_marker import (DONE_MARKER, changes_since, code_digest, file_digest, fingerprint,
                                           read_marker, stale_reason, write_marker)


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


TRAIN_YAML = "# seed 1 run\nencoder: transformer\nencoder_conf:\n    output_size: 128\n    num_blocks: 2\nlr: 4.0e-03\n"
REWRITTEN = ("# seed 1 run: figures of session 20 added to this comment\n\nencoder: 'transformer'  # quoted now\n"
             "encoder_conf: {output_size: 128, num_blocks: 2}\nlr: 4.0e-03\n")


def test_a_yaml_input_is_fingerprinted_by_what_it_says(tmp_path):
    conf = tmp_path / "train.yaml"
    conf.write_text(TRAIN_YAML)
    before = fingerprint({"config": conf})
    assert set(before) == {"file:config", "yaml:config"}
    conf.write_text(REWRITTEN)  # comments, a blank line, quoting, flow style: the same content
    after = fingerprint({"config": conf})
    assert after["file:config"] != before["file:config"] and after["yaml:config"] == before["yaml:config"]
    assert changes_since(before, after) is None
    for edit, value in [("num_blocks: 2}", "num_blocks: 3}"), ("4.0e-03", "'4.0e-03'"),  # a value; a type
                        ("{output_size: 128, num_blocks: 2}", "{num_blocks: 2, output_size: 128}")]:  # key order
        conf.write_text(REWRITTEN.replace(edit, value))
        assert changes_since(before, fingerprint({"config": conf})) == "config changed since it was made"


def test_a_marker_without_yaml_entries_is_judged_by_the_bytes(tmp_path):
    conf = tmp_path / "train.yaml"
    conf.write_text(TRAIN_YAML)
    old = {"file:config": file_digest(conf)}  # what a marker made before yaml entries records
    assert changes_since(old, fingerprint({"config": conf})) is None
    conf.write_text(REWRITTEN)
    assert changes_since(old, fingerprint({"config": conf})) == "config changed since it was made"


def test_unparsable_or_non_yaml_inputs_are_judged_by_the_bytes(tmp_path):
    bad, text = tmp_path / "bad.yaml", tmp_path / "text"
    bad.write_text("a: [1, 2\n")
    text.write_text("u1 a\n")
    assert set(fingerprint({"bad": bad, "text": text, "gone": tmp_path / "gone.yaml"})) == {
        "file:bad", "file:text", "file:gone"}
    recorded = fingerprint({"bad": bad})
    bad.write_text("# a comment\na: [1, 2\n")
    assert changes_since(recorded, fingerprint({"bad": bad})) == "bad changed since it was made"
    recorded = fingerprint({"conf": tmp_path / "c.yaml"})
    (tmp_path / "c.yaml").write_text("a: 1\n")  # a YAML file appears where none was: a change
    assert changes_since(recorded, fingerprint({"conf": tmp_path / "c.yaml"})) == "conf changed since it was made"


def test_a_comment_edit_of_the_config_skips_a_finished_stage_and_resumes_a_started_one(tmp_path):
    done, started, conf = tmp_path / "asr_done", tmp_path / "asr_started", tmp_path / "train.yaml"
    conf.write_text(TRAIN_YAML)
    fp = ["--partial", ".started", "--file", f"config={conf}", "--option", "asr_args=--seed 1"]
    assert run_cli("check", "--dir", done, *fp)[1] == "run" and run_cli("commit", "--dir", done)[0] == 0
    assert run_cli("check", "--dir", started, *fp)[1] == "run"
    assert run_cli("start", "--dir", started, "--partial", ".started")[0] == 0  # killed at epoch 5
    conf.write_text(REWRITTEN)
    assert run_cli("check", "--dir", done, *fp)[1] == "skip"
    rc, action, log = run_cli("check", "--dir", started, *fp)
    assert action == "resume" and "started from the same inputs and not finished; resuming it" in log
    conf.write_text(REWRITTEN.replace("num_blocks: 2", "num_blocks: 4"))
    rc, action, log = run_cli("check", "--dir", started, *fp)
    assert action == "redo" and "cannot be resumed (config changed since it was made)" in log
