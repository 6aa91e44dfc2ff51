"""The code-switching LM stages 9-11 (hook egs/TEMPLATE/asr1/hooks/cs_lm.sh, through egs/synth_cs/asr1/run.sh;
docs/cs_language_model.md): option parsing and the checks made before any training, and stage 9's completion
markers with a stand-in trainer (seconds). The stages themselves were run end to end on cs_demo (RESULTS.md)."""

import subprocess

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "egs" / "synth_cs" / "asr1" / "run.sh"


def run(*args, cwd=None):
    """run.sh with data, dump and exp under CWD (the recipe's own dirs stay untouched)."""
    dirs = [] if cwd is None else ["--datadir", str(cwd / "data" / "cs_micro"), "--dumpdir", str(cwd / "dump"),
                                   "--expdir", str(cwd / "exp")]
    return subprocess.run([str(SCRIPT), *dirs, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_unknown_option_is_an_error(tmp_path):
    proc = run("--corpus", "cs_micro", "--stage", "9", "--bogus_option", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert "ERROR: unknown option --bogus_option (see --help)" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize("args, error", [
    (["--stage"], "option --stage needs a value"),
    (["positional"], "unexpected positional argument 'positional'"),
    (["--lm_modes", "only_cs nope"], "--lm_modes: unknown mode 'nope'"),
    (["--nj", "two"], "--nj must be a positive integer, got 'two'"),
    (["--nbest", "1"], "--nbest must be an integer >= 2, got '1'"),
    (["--lm_iters_per_epoch", "0"], "--lm_iters_per_epoch must be a positive integer or empty, got '0'"),
])
def test_bad_values_are_errors(tmp_path, args, error):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 1 and error in proc.stderr, proc.stderr


def test_missing_data_names_the_file_and_the_stage(tmp_path):
    proc = run("--corpus", "cs_micro", "--stage", "9", "--stop_stage", "9", cwd=tmp_path)
    assert proc.returncode == 1
    assert "data/cs_micro/token_list/char/tokens.txt not found: run stage 3 (character vocabulary) first" in proc.stderr
    proc = run("--corpus", "cs_micro", "--stage", "11", cwd=tmp_path)
    assert proc.returncode == 1 and "asr_meta_en_zh_cs/config.yaml not found" in proc.stderr


def test_help_lists_the_stages():
    proc = run("--help")
    assert proc.returncode == 0
    for text in ("Stages (the same numbers in every recipe", "Hook cs_lm", "9  LM training", "10  perplexity",
                 "11  decoding", "meta_ft", "--lm_modes", "--modes", "--corpus cs_demo"):
        assert text in proc.stdout


def test_stage9_retrains_an_lm_only_when_what_it_is_trained_from_changed(tmp_path):
    """Issue 17: a finished LM dir was skipped whatever the config, transcripts or options. A stand-in trainer
    (``--python`` wrapper: records the call, writes the checkpoint) keeps this fast."""
    import sys

    data = tmp_path / "data" / "cs_micro"
    for s in ("en_train", "zh_train", "cs_train", "cs_a_train", "cs_b_train", "cs_dev", "en_dev", "zh_dev"):
        (data / s).mkdir(parents=True)
        (data / s / "text").write_text(f"{s}-1 a\n")
    (data / "token_list" / "char").mkdir(parents=True)
    (data / "token_list" / "char" / "tokens.txt").write_text("<blank>\n<unk>\na\n<sos/eos>\n")
    calls = tmp_path / "calls"
    fake = tmp_path / "python"
    fake.write_text(f"""#!/usr/bin/env bash
case "$2" in espnet_ext.bin.lm_train_multitask|espnet2.bin.lm_train)
    out=$(printf '%s\\n' "$@" | grep -A1 -x -- --output_dir | tail -n 1)
    echo "$2 $out" >> {calls}; echo "lm $RANDOM $RANDOM" > "$out/valid.loss.best.pth"; exit 0 ;;
esac
exec {sys.executable} "$@"
""")
    fake.chmod(0o755)

    def stage9(*extra):
        proc = run("--corpus", "cs_micro", "--stage", "9", "--stop_stage", "9", "--python", str(fake),
                   "--lm_modes", "only_cs joint_ft joint", *extra, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr, calls.read_text().splitlines()

    log, trained = stage9()
    assert [c.split()[1].rsplit("/", 1)[1] for c in trained] == ["lm_only_cs", "lm_joint", "lm_joint_ft"]
    log, trained = stage9()
    assert len(trained) == 3 and log.count("is complete; skipping") == 3
    (data / "zh_train" / "text").write_text("zh_train-1 a a\n")  # only the joint LM reads zh_train
    log, trained = stage9()
    assert [c.split()[1].rsplit("/", 1)[1] for c in trained[3:]] == ["lm_joint", "lm_joint_ft"]
    assert "lm_joint is out of date: text_zh changed since it was made; redoing it" in log
    assert "lm_joint_ft is out of date: init_param changed since it was made; redoing it" in log
    log, trained = stage9("--lm_train_args", "--max_epoch 2")
    assert len(trained) == 8 and "option lm_train_args changed ('' -> '--max_epoch 2')" in log
