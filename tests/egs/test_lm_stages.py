"""egs/synth_cs/asr1/local/lm_stages.sh (run.sh stages 9-11, docs/cs_language_model.md): option parsing and the
checks made before any training — no Python process is started, so these run in well under a second.
The stages themselves were run end to end on cs_micro by hand (see the doc)."""

import subprocess

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "egs" / "synth_cs" / "asr1" / "local" / "lm_stages.sh"


def run(*args, cwd=None):
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_unknown_option_is_an_error(tmp_path):
    proc = run("--corpus", "cs_micro", "--bogus_option", "1", cwd=tmp_path)
    assert proc.returncode == 1
    assert "ERROR: unknown option --bogus_option (see --help)" in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize("args, error", [
    (["--stage"], "option --stage needs a value"),
    (["positional"], "unexpected positional argument 'positional'"),
    (["--lm_modes", "only_cs nope"], "--lm_modes: unknown mode 'nope'"),
    (["--nj", "two"], "--nj must be a non-negative integer, got 'two'"),
    (["--nbest", "1"], "--nbest must be >= 2"),
])
def test_bad_values_are_errors(tmp_path, args, error):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 1 and error in proc.stderr, proc.stderr


def test_missing_data_names_the_file_and_the_stage(tmp_path):
    proc = run("--corpus", "cs_micro", "--stop_stage", "9", cwd=tmp_path)
    assert proc.returncode == 1
    assert "data/cs_micro/token_list/char/tokens.txt not found: run run.sh stage 3" in proc.stderr
    proc = run("--corpus", "cs_micro", "--stage", "11", "--expdir", str(tmp_path / "exp"), cwd=tmp_path)
    assert proc.returncode == 1 and "asr_meta_en_zh_cs/config.yaml not found" in proc.stderr


def test_help_lists_the_stages():
    proc = run("--help")
    assert proc.returncode == 0
    for text in ("Stages:", "9  LM training", "10  perplexity", "11  decoding", "meta_ft"):
        assert text in proc.stdout
