"""egs/synth_cs/asr1 on cs_micro: run.sh stage 1 (corpus + validation + language inventory) and stage 3
(character vocabulary) as subprocesses; the stage-2 feature option (linear spectrogram, conf/spectrogram.yaml)
through the same entry point in-process on one set (the full stage 2 spawns two processes per set: minutes).
Stage 5's mode table (hook egs/TEMPLATE/asr1/hooks/cs_multitask.sh) is checked through run.sh's option checks."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import pytest

from espnet_ext.bin import compute_fbank
from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.dataprep.synth_cs_corpus import ALL_SETS
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a recipe/corpus fixture of 5-140 s: not in the fast subset

RECIPE = REPO / "egs" / "synth_cs" / "asr1"


@pytest.fixture(scope="module")
def recipe(text_cache, tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng and sox are required")
    work = tmp_path_factory.mktemp("cs_recipe")
    cache = text_cache  # shared with tests/dataprep/test_synth_cs_corpus.py
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    common = ["--corpus", "cs_micro", "--nj", "2", "--cache_dir", str(cache), "--datadir", str(work / "data"),
              "--dumpdir", str(work / "dump"), "--expdir", str(work / "exp")]
    for stage in ("1", "3"):
        proc = subprocess.run([str(RECIPE / "run.sh"), *common, "--stage", stage, "--stop_stage", stage],
                              cwd=RECIPE, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
    return work


def test_data_stage(recipe):
    for name in ALL_SETS:
        data = validate_data_dir(recipe / "data" / name, languages=["cs", "en", "zh"])
        assert data.languages == [name.split("_")[0]]
    assert (recipe / "data" / "lang_list.txt").read_text().split() == ["cs", "en", "zh"]
    assert "| cs_test |" in (recipe / "data" / "table1.md").read_text()


def test_vocab_stage(recipe):
    tokens = (recipe / "data" / "token_list" / "char" / "tokens.txt").read_text(encoding="utf-8").split("\n")
    tokens = [t for t in tokens if t]
    assert tokens[:2] == ["<blank>", "<unk>"] and tokens[-1] == "<sos/eos>" and "<space>" in tokens
    chars = set()
    for name in ("en_train", "zh_train", "cs_train"):
        for text in read_kaldi_map(recipe / "data" / name / "text").values():
            chars.update(c for c in text if c != " ")
    assert chars <= set(tokens) and any("\u4e00" <= t <= "\u9fff" for t in tokens) and "e" in tokens


def test_spectrogram_feature_option(recipe, tmp_path):
    lang_list = recipe / "data" / "lang_list.txt"
    out = tmp_path / "cs_test"
    assert compute_fbank.main(["--data_dir", str(recipe / "data" / "cs_test"), "--out_dir", str(out),
                               "--conf", str(REPO / "conf" / "spectrogram.yaml"), "--nj", "1",
                               "--lang_list", str(lang_list)]) == 0
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")).items())
    durs = {u: float(d) for u, d in read_kaldi_map(recipe / "data" / "cs_test" / "utt2dur").items()}
    assert set(feats) == set(durs)
    for utt, f in feats.items():
        assert f.shape[1] == 257 and abs(f.shape[0] - durs[utt] * 100) <= 3  # 20 ms window, 10 ms shift
    assert set(read_kaldi_map(out / "utt2lid").values()) == {"0"}  # cs is index 0 of [cs, en, zh]


def test_train_mode_table(tmp_path):
    """Every mode of the paper's Table 2 is known; an unknown one (in --modes or --finetune_modes) stops the
    recipe before any stage, naming it and the known modes."""
    hook = (REPO / "egs" / "TEMPLATE" / "asr1" / "hooks" / "cs_multitask.sh").read_text()
    for mode in ("only_cs", "joint_en_zh", "joint_en_cs", "joint_zh_cs", "joint_en_zh_cs", "meta_en_cs",
                 "meta_zh_cs", "meta_en_zh_cs", "meta_en_zh_cs_fixed", "meta_en_zh_cs_srcgrad"):
        assert re.search(rf"^ +{mode}[|)]", hook, re.M), mode
    for opt in ("--modes", "--finetune_modes"):
        proc = subprocess.run([str(RECIPE / "run.sh"), opt, "only_cs nope", "--expdir", str(tmp_path / "exp"),
                               "--stage", "5"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1 and "ERROR: unknown mode 'nope' (modes: only_cs joint_en_zh" in proc.stderr
        assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("opt,value,message", [
    ("--seed", "x1", "--seed must be a non-negative integer, got 'x1'"),
    ("--feats", "mfcc", "--feats must be spectrogram, fbank or fbank40, got 'mfcc'"),
])
def test_bad_option_values_stop_before_any_stage(tmp_path, opt, value, message):
    proc = subprocess.run([str(RECIPE / "run.sh"), opt, value, "--datadir", str(tmp_path / "data"),
                           "--expdir", str(tmp_path / "exp"), "--stage", "5", "--stop_stage", "5"],
                          cwd=RECIPE, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and message in proc.stderr
    assert not (tmp_path / "exp").exists()


FAKE_COLLECT_STATS = """#!{python}
# A stand-in for collect_stats (the real one needs features): speech shapes of FRAMES_PER_CHAR x the characters
# of each transcript (+ 20 frames). Every other call goes to the real interpreter.
import os, sys
args = sys.argv[1:]
if args[:2] == ["-m", "espnet_ext.bin.asr_train_multitask"] and "--collect_stats" in args:
    out = args[args.index("--output_dir") + 1]
    text = next(a.split(",")[0] for i, a in enumerate(args) if args[i - 1] == "--train_data_path_and_name_and_type"
                and a.endswith(",text,text"))
    os.makedirs(os.path.join(out, "train"), exist_ok=True)
    with open(text, encoding="utf-8") as f, open(os.path.join(out, "train", "speech_shape"), "w") as g:
        for line in f:
            utt, _, words = line.rstrip("\\n").partition(" ")
            g.write(f"{{utt}} {{int(os.environ['FRAMES_PER_CHAR']) * len(words) + 20}},40\\n")
    sys.exit(0)
os.execv(sys.executable, [sys.executable] + args)
"""


def _fake_stage2_dumps(recipe: Path) -> Path:
    """The dumped ``text`` of every training set (what stage 4's diagnostics read), and the collect_stats
    stand-in as ``--python``."""
    for name in ("en_train", "zh_train", "cs_train", "cs_a_train", "cs_b_train"):
        dump = recipe / "dump" / "fbank" / name
        dump.mkdir(parents=True, exist_ok=True)
        shutil.copy(recipe / "data" / name / "text", dump / "text")
    fake = recipe / "python_fake_collect_stats"
    fake.write_text(FAKE_COLLECT_STATS.format(python=sys.executable))
    fake.chmod(0o755)
    return fake


def _stage4(recipe: Path, *extra: str, frames_per_char: int = 5) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", OMP_NUM_THREADS="1",
               FRAMES_PER_CHAR=str(frames_per_char))
    return subprocess.run([str(RECIPE / "run.sh"), "--corpus", "cs_micro", "--datadir", str(recipe / "data"),
                           "--dumpdir", str(recipe / "dump"), "--expdir", str(recipe / "exp"), "--stage", "4",
                           "--stop_stage", "4", "--python", str(_fake_stage2_dumps(recipe)), *extra],
                          cwd=RECIPE, env=env, capture_output=True, text=True, timeout=600)


def test_stage4_diagnostics_stop_an_infeasible_front_end(recipe, tmp_path):
    """5 frames per character: conv2d (4x) leaves ~1.25 frames per token (CTC can align), conv2d8 ~0.6 (it
    cannot). The CPU conf passes and writes both reports; a conv2d8 conf stops the recipe naming the set."""
    import json

    import yaml

    ok = _stage4(recipe)
    assert ok.returncode == 0, ok.stderr[-3000:]
    report = json.loads((recipe / "exp" / "stats" / "ctc_feasibility.json").read_text())
    assert report["input_layer"] == "conv2d" and report["sets"]["en_train"]["infeasible"] == 0
    coverage = json.loads((recipe / "exp" / "stats" / "token_coverage.json").read_text())
    assert coverage and (recipe / "exp" / "stats" / "token_coverage.png").is_file()

    conf = yaml.safe_load((REPO / "conf" / "mtl" / "train_meta_cs_conv2d_ctc_cpu.yaml").read_text())
    conf["encoder_conf"]["input_layer"] = "conv2d8"
    bad = tmp_path / "train_conv2d8.yaml"
    bad.write_text(yaml.safe_dump(conf))
    stopped = _stage4(recipe, "--train_config", str(bad))
    assert stopped.returncode != 0
    assert stopped.stderr.count("is complete; skipping") == 5  # the shapes of the 5 training sets: unchanged inputs
    assert "ERROR: en_train: 100.0 % of utterances" in stopped.stderr
    assert "too long for CTC with input_layer conv2d8" in stopped.stderr
    assert "front end of" in stopped.stderr and "--ctc_feasibility_threshold 1" in stopped.stderr
    # The user's override trains anyway.
    assert _stage4(recipe, "--train_config", str(bad), "--ctc_feasibility_threshold", "1").returncode == 0


def test_stage5_retrains_only_when_what_it_trains_from_changed(tmp_path):
    """Issue 17 for the code-switching runner: stage 5 skipped any dir with a ``.done``, whatever the config,
    --train_args or data. A stand-in trainer (``--python`` wrapper: records the call, writes the dir) keeps
    this fast; everything else runs the real tools."""
    dump, stats = tmp_path / "dump" / "fbank", tmp_path / "exp" / "stats"
    for s in ("en_train", "zh_train", "cs_train", "cs_a_train", "cs_b_train", "cs_dev", "en_dev", "zh_dev"):
        (dump / s).mkdir(parents=True)
        (dump / s / ".done").write_text(f"{s}\n")
        (dump / s / "feats_dim").write_text("40\n")
    for s in ("en_train", "zh_train", "cs_train", "cs_a_train", "cs_b_train"):
        (stats / s).mkdir(parents=True)
        (stats / s / ".done").write_text("")
    (tmp_path / "data" / "token_list" / "char").mkdir(parents=True)
    (tmp_path / "data" / "token_list" / "char" / "tokens.txt").write_text("<blank>\n<unk>\na\n<sos/eos>\n")
    calls = tmp_path / "trainer_calls"
    fake = tmp_path / "python"
    fake.write_text(f"""#!/usr/bin/env bash
if [ "$1 $2" = "-m espnet_ext.bin.asr_train_multitask" ]; then
    out=$(printf '%s\\n' "$@" | grep -A1 -x -- --output_dir | tail -n 1)
    echo "$*" >> {calls}; mkdir -p "$out"; echo trained > "$out/valid.acc.ave.pth"; exit 0
fi
exec {sys.executable} "$@"
""")
    fake.chmod(0o755)
    config = tmp_path / "train.yaml"
    config.write_text((REPO / "conf" / "mtl" / "train_joint_cs_conv2d_ctc_cpu.yaml").read_text())

    def stage5(*extra):
        proc = subprocess.run([str(RECIPE / "run.sh"), "--corpus", "cs_micro", "--datadir", str(tmp_path / "data"),
                               "--dumpdir", str(tmp_path / "dump"), "--expdir", str(tmp_path / "exp"),
                               "--python", str(fake), "--modes", "only_cs", "--finetune_modes", "",
                               "--train_config", str(config),
                               "--stage", "5", "--stop_stage", "5", *extra],
                              cwd=RECIPE, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stderr, len(calls.read_text().splitlines()) if calls.exists() else 0

    exp = tmp_path / "exp" / "asr_only_cs"
    assert stage5()[1] == 1 and (exp / ".done").is_file() and (exp / ".started").is_file()
    log, n = stage5()
    assert n == 1 and f"{exp} is complete; skipping" in log
    log, n = stage5("--train_args", "--max_epoch 3")
    assert n == 2 and "option train_args changed ('' -> '--max_epoch 3') since it was made; redoing it" in log
    (dump / "cs_train" / ".done").write_text("cs_train, other features\n")  # stage 2 redid cs_train
    log, n = stage5("--train_args", "--max_epoch 3")
    assert n == 3 and "feats_cs_train changed since it was made; redoing it" in log
    (exp / ".done").unlink()  # killed before it finished: the same inputs resume, with --resume true
    log, n = stage5("--train_args", "--max_epoch 3")
    assert n == 4 and "started from the same inputs and not finished; resuming it" in log
    assert "--resume true" in calls.read_text().splitlines()[-1]


def test_meta_transfer_trains_over_two_cpu_processes_through_the_recipe(recipe):
    """Issue 18: --train_nproc 2 runs meta-transfer (Algorithm 1, D_val from the CS pool) with ESPnet's DDP over
    two gloo processes: features, shapes, then one short epoch of a tiny model."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", OMP_NUM_THREADS="1")
    common = ["--corpus", "cs_micro", "--nj", "2", "--datadir", str(recipe / "data"),
              "--dumpdir", str(recipe / "dump"), "--expdir", str(recipe / "exp")]
    tiny = ("--max_epoch 1 --encoder_conf output_size=32 --encoder_conf linear_units=32 --encoder_conf num_blocks=1 "
            "--decoder_conf linear_units=32 --decoder_conf num_blocks=1 --decoder_conf attention_heads=2 "
            "--encoder_conf attention_heads=2")
    for stages in (("2", "2"), ("4", "4")):
        proc = subprocess.run([str(RECIPE / "run.sh"), *common, "--stage", stages[0], "--stop_stage", stages[1],
                               "--ctc_feasibility_threshold", "1"],
                              cwd=RECIPE, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-4000:]
    proc = subprocess.run([str(RECIPE / "run.sh"), *common, "--stage", "5", "--stop_stage", "5",
                           "--modes", "meta_en_zh_cs", "--finetune_modes", "", "--iters_per_epoch", "2",
                           "--train_nproc", "2", "--train_args", tiny],
                          cwd=RECIPE, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert ":0/2] " in proc.stderr  # ESPnet's [host:rank/world] log prefix of a distributed run
    assert "--multitask_mode meta" in proc.stderr or "mode meta_en_zh_cs: meta" in proc.stderr
    exp = recipe / "exp" / "asr_meta_en_zh_cs"
    assert (exp / "valid.acc.ave.pth").is_file() and (exp / ".done").is_file()
    assert "The training was finished at 1 epochs" in proc.stderr
    bad = subprocess.run([str(RECIPE / "run.sh"), *common, "--stage", "5", "--train_nproc", "2", "--ngpu", "1"],
                         cwd=RECIPE, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "--train_nproc 2 is for CPU training (--ngpu 0)" in bad.stderr
