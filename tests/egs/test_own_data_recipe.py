"""egs/own_data/asr1 (docs/your_own_data.md): stages 1-3 on hand-made Kaldi dirs with short tone wavs (the dirs, the
hold-out, the report, features and vocabulary), and the errors a user meets first (missing utt2lang, missing
--train_dir). Stages 4-8 are the runner's and the model_rows hook's, covered by test_recipe_e2e.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from tests.conftest import REPO
from tests.own_data_helpers import make_kaldi_dir

RECIPE = REPO / "egs" / "own_data" / "asr1"
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
# en: 4 speakers (whole speakers held out), zh: 2 speakers (utterances held out); raw transcripts to normalise.
TRAIN = ([(f"en{s}-{k}", f"en{s}", "en", f"Hello, world number {s}{k}!") for s in range(4) for k in range(2)]
         + [(f"zh{s}-{k}", f"zh{s}", "zh", f"你好，世界{'一二三四'[k]}。") for s in range(2) for k in range(3)])
TEST = [("ent-1", "ent", "en", "Good night."), ("ent-2", "ent", "en", "?!"), ("zht-1", "zht", "zh", "晚安。")]


def run(cwd, *args, timeout=60):
    """run.sh with data, dump and exp under CWD (the recipe's own dirs stay untouched)."""
    cmd = [str(RECIPE / "run.sh"), "--datadir", str(cwd / "data"), "--dumpdir", str(cwd / "dump"),
           "--expdir", str(cwd / "exp"), *args]
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_stages_1_to_3_on_kaldi_dirs(tmp_path):
    make_kaldi_dir(tmp_path / "in" / "train", TRAIN)
    make_kaldi_dir(tmp_path / "in" / "test", TEST)
    # Relative paths: read from the directory run.sh was started in, not the recipe's.
    proc = run(tmp_path, "--train_dir", "in/train", "--test_dir", "in/test", "--stop_stage", "3", "--nj", "1",
               "--nbpe", "30", "--normalizer", "nfkc,lower,punct,lang,space", timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = tmp_path / "data"
    dirs = {s: validate_data_dir(data / s, languages=["en", "zh"]) for s in ("train", "dev", "test")}
    assert dirs["test"].text == {"ent-1": "good night", "zht-1": "晚安"}  # "?!" dropped
    assert dirs["train"].text["zh0-1"] == "你好世界二"
    assert {s: d.utts_per_language() for s, d in dirs.items()} == {
        "train": {"en": 6, "zh": 4}, "dev": {"en": 2, "zh": 2}, "test": {"en": 1, "zh": 1}}
    en_dev_spk = {dirs["dev"].utt2spk[u] for u, lang in dirs["dev"].utt2lang.items() if lang == "en"}
    assert len(en_dev_spk) == 1 and not en_dev_spk & set(dirs["train"].utt2spk.values())
    report = json.loads((data / "own_data_report.json").read_text())
    assert report["languages"]["en"]["dev_holdout"] == "speakers"
    assert report["languages"]["zh"]["dev_holdout"] == "utterances"
    assert report["languages"]["en"]["test"]["dropped_empty"] == 1 and report["dropped_examples"] == {"test": ["ent-2"]}
    assert report["normalizer"]["spec"] == "nfkc,punct,lower,lang,space"
    assert report["settings"]["train_dir"] == str(tmp_path / "in" / "train")
    assert (data / "lang_list.txt").read_text().split() == ["en", "zh"]
    for s in ("train", "dev", "test"):
        assert (tmp_path / "dump" / "fbank" / s / ".done").is_file()
    assert read_kaldi_map(tmp_path / "dump" / "fbank" / "dev" / "utt2lang") == dirs["dev"].utt2lang
    assert (data / "token_list" / "bpe_unigram30" / "tokens.txt").is_file()
    assert "1 'en' utterance(s) have an empty transcript after normalisation" in proc.stderr
    # A re-run of stage 1 with the same inputs and options keeps the prepared dirs.
    proc = run(tmp_path, "--train_dir", "in/train", "--test_dir", "in/test", "--stop_stage", "1",
               "--normalizer", "nfkc,lower,punct,lang,space")
    assert proc.returncode == 0 and "is complete with the same inputs and options; skipping" in proc.stderr


def test_missing_utt2lang_stops_stage_1_naming_the_file(tmp_path):
    make_kaldi_dir(tmp_path / "in" / "train", TRAIN, skip=["utt2lang"])
    make_kaldi_dir(tmp_path / "in" / "test", TEST)
    proc = run(tmp_path, "--train_dir", str(tmp_path / "in" / "train"), "--test_dir", str(tmp_path / "in" / "test"),
               "--stop_stage", "1")
    assert proc.returncode != 0
    assert (f"ERROR: {tmp_path / 'in' / 'train' / 'utt2lang'}: required file missing: give every utterance its "
            f"language") in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing half-written


def test_train_and_test_dirs_are_required_for_stage_1(tmp_path):
    proc = run(tmp_path, "--stop_stage", "1")
    assert proc.returncode == 1 and "--train_dir and --test_dir are required for stage 1" in proc.stderr
    proc = subprocess.run([str(REPO / "local" / "own_data" / "data.sh"), "--datadir", str(tmp_path / "d")], cwd=RECIPE,
                          env=ENV, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "--train_dir is required (a Kaldi data dir with wav.scp text utt2spk" in proc.stderr


def test_help_lists_the_recipe_options():
    proc = subprocess.run([str(RECIPE / "run.sh"), "--help"], cwd=RECIPE, env=ENV, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    for option in ("--train_dir", "--test_dir", "--dev_dir", "--dev_share", "--seed", "--normalizer", "--stop_stage"):
        assert option in proc.stdout
