"""egs/synth_longtail/asr1/local/run_a2_rows.sh: option parsing and the checks made before any training (no
Python process is started). The rows themselves ran on the micro and benchmark corpora (RESULTS.md)."""

import subprocess

import pytest

from tests.conftest import REPO

RECIPE = REPO / "egs" / "synth_longtail" / "asr1"
SCRIPT = RECIPE / "local" / "run_a2_rows.sh"


def run(*args):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args, error", [
    (["--bogus", "1"], "unknown option --bogus (see --help)"),
    (["--rows"], "option --rows needs a value"),
    (["--rows", "smt nope"], "unknown row 'nope'"),
    (["--parallel", "0"], "--parallel must be a positive integer, got '0'"),
    (["--seed", "-1"], "--seed must be a non-negative integer, got '-1'"),
    (["--seed", "one"], "--seed must be a non-negative integer, got 'one'"),
    (["--decode_sets", ""], "--decode_sets must name at least one data set"),
    (["--rows", "smt smt_mbert", "--pretrained_path", "/nonexistent/e5"],
     "row smt_mbert needs a pretrained LM: --pretrained_path '/nonexistent/e5' has no config.json"),
])
def test_bad_options_are_errors(args, error):
    proc = run(*args)
    assert proc.returncode == 1
    assert f"ERROR: {error}" in proc.stderr


def test_missing_statistics_name_the_stage_to_run_and_create_nothing():
    corpus = "no_such_corpus_for_test"
    proc = run("--corpus", corpus, "--rows", "smt")
    assert proc.returncode == 1
    assert f"exp/{corpus} has no statistics: run ./run.sh --corpus {corpus} --stop_stage 4 first" in proc.stderr
    assert not (RECIPE / "exp" / corpus).exists()


def test_help_lists_the_options():
    proc = run("--help")
    assert proc.returncode == 0
    for option in ("--rows", "--parallel", "--ngpu", "--nj", "--pretrained_path", "--seed", "seed_summary",
                   "--train_args", "--decode_sets", "a2_rows_lang_balanced_alpha0.5"):
        assert option in proc.stdout
