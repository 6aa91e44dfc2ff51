"""egs/TEMPLATE/asr1/utils/lib.sh, the shell library of every recipe script: the one option parser (options
declared by their defaults block), the recipe/runner split of options, stage ranges and log lines that name
the calling script."""

import subprocess

import pytest

from tests.conftest import REPO

LIB = REPO / "egs" / "TEMPLATE" / "asr1" / "utils" / "lib.sh"

SCRIPT = """#!/usr/bin/env bash
# A test script.
# Usage: it.sh [--alpha N]
set -euo pipefail
. {lib}
# ---- options
alpha=1                 # the first option
beta="x y"; gamma=      # two on a line
# ---- end of options
not_an_option=3
{body}
"""


def run(tmp_path, body, *args):
    script = tmp_path / "it.sh"
    script.write_text(SCRIPT.format(lib=LIB, body=body))
    script.chmod(0o755)
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=30)


def test_parse_options_sets_declared_options_only(tmp_path):
    body = 'parse_options "$0" "$@"; echo "alpha=${alpha} beta=${beta} gamma=${gamma}"'
    proc = run(tmp_path, body, "--gamma", "g", "--alpha", "7")
    assert proc.returncode == 0 and proc.stdout.strip() == "alpha=7 beta=x y gamma=g"
    for args, error in ((["--not_an_option", "1"], "unknown option --not_an_option (see --help)"),
                        (["--alpha"], "option --alpha needs a value"),
                        (["stray"], "unexpected positional argument 'stray'")):
        proc = run(tmp_path, body, *args)
        assert proc.returncode == 1 and f"(it.sh:11) ERROR: {error}" in proc.stderr, proc.stderr


def test_help_prints_the_header_and_every_option(tmp_path):
    proc = run(tmp_path, 'parse_options "$0" "$@"', "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("A test script.\nUsage: it.sh [--alpha N]\nOptions of it.sh (--name value):\n")
    assert "  --alpha 1                 # the first option" in proc.stdout and "--gamma" in proc.stdout
    assert "not_an_option" not in proc.stdout


def test_recipe_options_keep_the_others_for_the_runner(tmp_path):
    body = ('recipe_options "$0" "$@"; echo "alpha=${alpha}"; printf "<%s>" "${runner_args[@]}"; echo; '
            'echo "stage=$(runner_opt stage 1) nj=$(runner_opt nj 2)"')
    proc = run(tmp_path, body, "--stage", "5", "--alpha", "3", "--modes", "a b", "--stage", "6")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["alpha=3", "<--stage><5><--modes><a b><--stage><6>", "stage=6 nj=2"]


@pytest.mark.parametrize("stage, stop, error", [
    ("0", "100", "--stage 0: there is no such stage (the stages are 1-4; see --help)"),
    ("x", "100", "--stage must be a stage number (1-4), got 'x'"),
    ("3", "2", "--stage 3 --stop_stage 2 selects no stage (--stop_stage must be >= --stage)"),
])
def test_stage_range(tmp_path, stage, stop, error):
    body = f'stage={stage}; stop_stage={stop}; check_stage_range 4; echo ok'
    proc = run(tmp_path, body)
    assert proc.returncode == 1 and f"ERROR: {error}" in proc.stderr
    assert run(tmp_path, "stage=02; stop_stage=100; check_stage_range 4; echo $stage").stdout.strip() == "2"


def test_venv_goes_first_on_path(tmp_path, monkeypatch):
    """Issue 19: recipes read ESPNET_EXT_VENV as tools/*.sh do; a venv that is not there is a clear error."""
    import os

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python3").write_text("#!/bin/sh\n")
    (venv / "bin" / "python3").chmod(0o755)
    monkeypatch.setenv("ESPNET_EXT_VENV", str(venv))
    proc = run(tmp_path, 'echo "${PATH%%:*}"')
    assert proc.returncode == 0 and proc.stdout.strip() == str(venv / "bin"), proc.stderr
    monkeypatch.setenv("ESPNET_EXT_VENV", str(tmp_path / "nowhere"))
    proc = run(tmp_path, "echo never")
    assert proc.returncode == 1 and "never" not in proc.stdout
    assert f"ESPNET_EXT_VENV={tmp_path / 'nowhere'} has no bin/python3" in proc.stderr
    assert os.environ["PATH"]  # the test's own PATH is untouched
