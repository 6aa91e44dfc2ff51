"""Every stage of egs/synth_longtail/asr1 on the micro corpus (one epoch, tiny model); each stage's
outputs parse; the trained model decodes the same through ESPnet's own Speech2Text."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import pytest
import yaml

from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.text.sentencepiece_vocab import read_token_list
from espnet_ext.utils.stage_marker import file_digest
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # a recipe/corpus fixture of 5-140 s: not in the fast subset

RECIPE = REPO / "egs" / "synth_longtail" / "asr1"
TINY_MODEL = [
    "--max_epoch", "1", "--encoder_conf", "output_size=32", "--encoder_conf", "linear_units=32",
    "--encoder_conf", "num_blocks=1", "--decoder_conf", "linear_units=32", "--decoder_conf", "num_blocks=1",
]
DECODE = ["--beam_size", "2", "--maxlenratio", "0.3"]
ENV = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")


def run_recipe(work, *args, timeout=1200):
    """The recipe on the micro corpus in ``work``, with the tiny model and decoding options."""
    cmd = [str(RECIPE / "run.sh"), "--corpus", "micro", "--nj", "2",
           "--datadir", str(work / "data"), "--dumpdir", str(work / "dump"), "--expdir", str(work / "exp"),
           "--asr_args", " ".join(TINY_MODEL), "--inference_args", " ".join(DECODE), *args]
    return subprocess.run(cmd, cwd=RECIPE, env=ENV, capture_output=True, text=True, timeout=timeout)


def experiment(work, nbpe=300):
    """The experiment dir: named from the config, the token type and size, and --asr_args (as egs2 does)."""
    (exp,) = (work / "exp").glob(f"asr_train_smt_transformer_cpu_bpe_unigram{nbpe}_max_epoch1_*")
    return exp


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.fail("espeak-ng and sox are required (bash tools/setup.sh installs them)")
    work = tmp_path_factory.mktemp("recipe")
    proc = run_recipe(work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work, proc


def test_stage_outputs_parse(recipe_run):
    work, proc = recipe_run
    for s in ("train", "dev", "test"):
        validate_data_dir(work / "data" / s, languages=["en", "es", "ru"])
    assert (work / "data" / "lang_list.txt").read_text().split() == ["en", "es", "ru"]
    feats = dict(kaldiio.load_scp(str(work / "dump" / "fbank" / "train" / "feats.scp")).items())
    dim = yaml.safe_load((REPO / "conf" / "fbank_40.yaml").read_text())["num_mel_bins"]  # the recipe's conf
    assert (work / "dump" / "fbank" / "train" / "feats_dim").read_text().strip() == str(dim)
    assert feats and all(f.ndim == 2 and f.shape[1] == dim for f in feats.values())
    assert set(read_kaldi_map(work / "dump" / "fbank" / "train" / "utt2lid").values()) <= {"0", "1", "2"}
    tokens = read_token_list(next((work / "data" / "token_list").glob("*/tokens.txt")))
    assert tokens[0] == "<blank>"
    stats = next((work / "exp").glob("asr_stats_*"))
    assert set(read_kaldi_map(stats / "train" / "speech_shape")) == set(feats)
    exp = experiment(work)
    config = yaml.safe_load((exp / "config.yaml").read_text())
    assert config["model"] == "multilingual" and config["model_conf"]["languages"] == ["en", "es", "ru"]
    assert (exp / "valid.acc.ave.pth").exists()
    decode = next(exp.glob("decode_*")) / "test"
    hyps = read_kaldi_map(decode / "text", allow_empty_value=True)
    assert set(hyps) == set(read_kaldi_map(work / "data" / "test" / "text"))
    results = json.loads((decode / "results.json").read_text())
    assert set(results["languages"]) == {"en", "es", "ru"}
    assert (decode / "cer_per_language.png").stat().st_size > 0
    assert "average over languages" in proc.stdout
    assert (exp / "valid.acc.ave.zip").stat().st_size > 0  # stage 8


def test_rerun_skips_finished_stages(recipe_run):
    work, _ = recipe_run
    proc = run_recipe(work, "--stage", "2", "--stop_stage", "6", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("is complete; skipping") == 7  # 3 feature dirs, tokens, stats, training, decoding


def test_model_rows_hook_trains_decodes_and_compares(recipe_run):
    """Issue 19: stages 5-7 of several rows (the demo's SMT and A2), each row's length bonus chosen on dev, and
    the per-language comparison. The smt row with the runner's --asr_args is the experiment already trained."""
    work, _ = recipe_run
    # one decoding job (the fixture's run covers two): each job is a Python process that imports ESPnet
    proc = run_recipe(work, "--stage", "5", "--stop_stage", "7", "--hooks", "model_rows", "--inference_nj", "1",
                      "--rows", "smt a2_adjust_train", "--length_bonus_grid", "0,1", timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the smt row with the runner's --asr_args is the runner's own experiment: not trained again
    assert f"{experiment(work)} is complete; skipping" in (work / "exp" / "rows_logs" / "smt.train.log").read_text()
    a2 = next((work / "exp").glob("asr_train_a2_bs_dual_adapters_adjust_train_cpu_bpe_unigram300_max_epoch1_*"))
    assert yaml.safe_load((a2 / "config.yaml").read_text())["model"] == "logit_adjusted"
    for exp in (experiment(work), a2):
        sweep = json.loads((exp / "length_bonus_dev" / "length_bonus_sweep.json").read_text())
        assert sweep["grid"] == [0.0, 1.0]
        (decoded,) = [d for d in exp.glob("decode_*") if d.name.endswith(f"penalty{sweep['best_value']:g}")]
        assert (decoded / "test" / "results.json").is_file()
    compare = json.loads((work / "exp" / "compare" / "test" / "compare.json").read_text())
    assert compare["models"] == ["smt", "a2_adjust_train"] and compare["languages"][0] == "en"  # head first
    assert set(compare["group"].values()) == {"head", "tail"}
    assert (work / "exp" / "compare" / "test" / "compare.png").stat().st_size > 5000
    assert "| **average** |" in proc.stdout
    proc = run_recipe(work, "--stage", "5", "--hooks", "model_rows", "--rows", "smt nope")
    assert proc.returncode == 1 and "unknown row 'nope' (rows of" in proc.stderr
    proc = run_recipe(work, "--stage", "5", "--hooks", "model_rows", "--rows", "smt", "--compare_ref", "bs")
    assert proc.returncode == 1 and "--compare_ref bs is not one of --rows (smt)" in proc.stderr


def test_changed_options_redo_every_stage_they_reach(recipe_run, tmp_path):
    """Issue 17's worst case: after --nbpe 50 --stage 3 on a finished nbpe-300 run, stage 5 said "complete;
    skipping" and stage 7 scored the old model. Now the experiment dir carries the token size, every stage
    from 3 on redoes its work, and a config whose content changed under the same name is retrained."""
    work, _ = recipe_run
    old = experiment(work, 300)
    old_done = (old / ".done").read_text()
    proc = run_recipe(work, "--stage", "3", "--nbpe", "50", "--inference_nj", "1")  # one decoding job, as above
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "is complete; skipping" not in proc.stderr
    new = experiment(work, 50)
    tokens = read_token_list(work / "data" / "token_list" / "bpe_unigram50" / "tokens.txt")
    assert yaml.safe_load((new / "config.yaml").read_text())["token_list"] == tokens  # the new 50-piece vocabulary
    scored = json.loads((next(new.glob("decode_*")) / "test" / "results.json").read_text())
    assert set(scored["languages"]) == {"en", "es", "ru"}
    assert f"Stage 7: scoring {next(new.glob('decode_*')) / 'test'}" in proc.stderr
    assert (old / ".done").read_text() == old_done  # the nbpe-300 experiment is left as it was

    # the same config name, other content: stage 5 retrains (not resumes), stage 6 decodes the new model
    config = tmp_path / "train_smt_transformer_cpu.yaml"
    config.write_text((REPO / "conf" / "tuning" / "train_smt_transformer_cpu.yaml").read_text() + "seed: 7\n")
    proc = run_recipe(work, "--stage", "4", "--stop_stage", "6", "--nbpe", "50", "--asr_config", str(config),
                      "--inference_nj", "1")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"{work / 'exp' / 'asr_stats_bpe_unigram50'} is complete; skipping" in proc.stderr
    assert f"{new} is out of date: config changed since it was made; redoing it" in proc.stderr
    assert yaml.safe_load((new / "config.yaml").read_text())["seed"] == 7
    # the redone experiment dir starts empty, so stage 6 decodes anew; its marker records the new model
    decoded = next(new.glob("decode_*")) / "test"
    assert f"Stage 6: decoding test -> {decoded}" in proc.stderr
    recorded = json.loads((decoded / ".done").read_text())["inputs"]
    assert recorded["file:model"] == file_digest(new / "valid.acc.ave.pth")


def test_diagnostics_of_stages_4_and_5_and_an_infeasible_front_end_stops(recipe_run, tmp_path):
    """Issue 16's diagnostics in every recipe of the runner: stage 4 writes the per-language token coverage,
    stage 5 the CTC feasibility of its config's front end, and stops before training when the front end leaves
    too few frames for more than --ctc_feasibility_threshold of the utterances."""
    work, _ = recipe_run
    stats = work / "exp" / "asr_stats_bpe_unigram300"
    coverage = json.loads((stats / "token_coverage.json").read_text())
    assert {row["language"] for row in coverage["rows"] if row["language"] != "all"} == {"en", "es", "ru"}
    assert (stats / "token_coverage.png").stat().st_size > 0
    feasible = json.loads((experiment(work) / "ctc_feasibility.json").read_text())
    assert feasible["input_layer"] == "conv2d" and set(feasible["sets"]) == {"train", "dev"}
    assert feasible["sets"]["train"]["infeasible"] == 0

    # 100 frames per second -> 12.5 after conv2d8: fewer than some micro utterances' tokens (+ repeats) need
    conf = yaml.safe_load((REPO / "conf" / "tuning" / "train_smt_transformer_cpu.yaml").read_text())
    conf["encoder_conf"]["input_layer"] = "conv2d8"
    bad = tmp_path / "train_conv2d8.yaml"
    bad.write_text(yaml.safe_dump(conf))
    check = subprocess.run(
        [sys.executable, "-m", "espnet_ext.bin.ctc_feasibility", "--config", str(bad), "--token_type", "bpe",
         "--bpemodel", str(work / "data" / "token_list" / "bpe_unigram300" / "bpe.model"), "--threshold", "1",
         "--set", f"train={stats / 'train' / 'speech_shape'},{work / 'dump' / 'fbank' / 'train' / 'text'}",
         "--out_json", str(tmp_path / "f.json")], env=ENV, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-2000:]
    report = json.loads((tmp_path / "f.json").read_text())
    share = report["sets"]["train"]["infeasible_share"]
    assert share > 0.0  # the micro corpus at conv2d8: some utterances need more frames than it leaves
    threshold = f"{share / 2:.4f}"
    proc = run_recipe(work, "--stage", "5", "--stop_stage", "5", "--asr_config", str(bad), "--asr_tag", "conv2d8",
                      "--ctc_feasibility_threshold", threshold, timeout=300)
    assert proc.returncode != 0
    assert "ERROR: train: " in proc.stderr and "too long for CTC with input_layer conv2d8" in proc.stderr
    assert "stage 5: the front end of" in proc.stderr and "--ctc_feasibility_threshold 1" in proc.stderr
    assert not (work / "exp" / "asr_conv2d8" / "train.log").exists()  # stopped before training
    assert json.loads((work / "exp" / "asr_conv2d8" / "ctc_feasibility.json").read_text())["sets"]["train"][
        "infeasible_share"] == share


def test_two_process_cpu_ddp_training_through_the_recipe(recipe_run):
    """Issue 18: --train_nproc 2 trains with ESPnet's DDP over two gloo processes (torch.distributed.run)."""
    work, _ = recipe_run
    proc = run_recipe(work, "--stage", "5", "--stop_stage", "5", "--train_nproc", "2", "--asr_tag", "ddp2",
                      timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert ":0/2] " in proc.stderr  # ESPnet's log prefix [host:rank/world] of a distributed run
    exp = work / "exp" / "asr_ddp2"
    assert "The training was finished at 1 epochs" in proc.stderr
    assert (exp / "valid.acc.ave.pth").is_file() and (exp / ".done").is_file()
    # rank 0 alone writes the checkpoint; its parameters match the single-process model's layout
    import torch
    ddp = torch.load(exp / "valid.acc.ave.pth", map_location="cpu")
    single = torch.load(experiment(work) / "valid.acc.ave.pth", map_location="cpu")
    assert list(ddp) == list(single) and all(ddp[k].shape == single[k].shape for k in ddp)


def test_espnet_speech2text_gives_the_same_hypotheses(recipe_run):
    import espnet_ext  # noqa: F401  (registers model 'multilingual' for ESPnet's own loader)
    from espnet2.bin.asr_inference import Speech2Text

    work, _ = recipe_run
    exp = experiment(work)
    s2t = Speech2Text(asr_train_config=exp / "config.yaml", asr_model_file=exp / "valid.acc.ave.pth",
                      beam_size=2, maxlenratio=0.3, ctc_weight=0.5)
    ours = read_kaldi_map(next(exp.glob("decode_*")) / "test" / "text", allow_empty_value=True)
    feats = kaldiio.load_scp(str(work / "dump" / "fbank" / "test" / "feats.scp"))
    for utt in sorted(ours):
        assert s2t(feats[utt])[0][0].strip() == ours[utt].strip(), utt


def test_missing_required_option_is_a_clear_error():
    proc = subprocess.run([str(REPO / "egs" / "TEMPLATE" / "asr1" / "asr.sh"), "--stage", "2"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "--train_set is required" in proc.stderr
    proc = subprocess.run([str(REPO / "egs" / "TEMPLATE" / "asr1" / "asr.sh"), "--bogus", "1"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "unknown option --bogus" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--stage", "5", "--stop_stage", "3"],
     "--stage 5 --stop_stage 3 selects no stage (--stop_stage must be >= --stage)"),
    (["--stage", "abc"], "--stage must be a stage number (1-8), got 'abc'"),
    (["--stop_stage", "x7"], "--stop_stage must be a stage number, got 'x7'"),
    (["--stage", "9"], "--stage 9: there is no such stage (the stages are 1-8; see --help)"),
    (["--stage", "0"], "--stage 0: there is no such stage (the stages are 1-8; see --help)"),
    (["--train_nproc", "0"], "--train_nproc must be a positive integer, got '0'"),
    (["--train_nproc", "2", "--ngpu", "1"],
     "--train_nproc 2 is for CPU training (--ngpu 0); with GPUs --ngpu N runs N processes"),
])
def test_stage_range_and_value_errors(tmp_path, args, message):
    """Issue 17: each of these exited 0 having run nothing."""
    proc = subprocess.run([str(REPO / "egs" / "TEMPLATE" / "asr1" / "asr.sh"), "--train_set", "train",
                           "--valid_set", "dev", "--expdir", str(tmp_path / "exp"), *args],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and f"ERROR: {message}" in proc.stderr, proc.stderr
    assert not (tmp_path / "exp").exists()


def test_stage2_rejects_unsorted_data_then_redoes_once_sorted(tmp_path):
    """Issue 17: unsorted data passed validation and stage 2 copied it; after the user sorted it, stage 2
    skipped and kept the stale copy. Now stage 2 names the unsorted line, and redoes once the data changed."""
    from tests.conftest import make_data_dir

    data = tmp_path / "data"
    for s in ("train", "dev"):
        make_data_dir(data / s)
    (data / "lang_list.txt").write_text("en\nfr\nzh\n")
    cmd = [str(REPO / "egs" / "TEMPLATE" / "asr1" / "asr.sh"), "--stage", "2", "--stop_stage", "2", "--nj", "1",
           "--train_set", "train", "--valid_set", "dev", "--datadir", str(data), "--dumpdir", str(tmp_path / "dump"),
           "--expdir", str(tmp_path / "exp"), "--feats_conf", str(REPO / "conf" / "fbank_40.yaml")]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def run():
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)

    assert run().returncode == 0
    text = data / "train" / "text"
    lines = text.read_text(encoding="utf-8").replace("bonjour", "bonsoir").splitlines()
    text.write_text("".join(line + "\n" for line in reversed(lines)), encoding="utf-8")
    proc = run()
    assert proc.returncode == 1
    assert f"{text}:2: not sorted: key 'spkB-en-0003' comes after 'spkB-zh-0004' (line 1)" in proc.stderr
    text.write_text("".join(line + "\n" for line in lines), encoding="utf-8")  # the user sorts it
    proc = run()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{tmp_path / 'dump' / 'fbank' / 'train'} is out of date: text changed since it was made; redoing it" \
        in proc.stderr
    assert f"{tmp_path / 'dump' / 'fbank' / 'dev'} is complete; skipping" in proc.stderr
    dumped = tmp_path / "dump" / "fbank" / "train" / "text"
    assert dumped.read_text(encoding="utf-8") == text.read_text(encoding="utf-8")


def test_a_conf_that_sets_normalize_decides_it_and_none_means_none(recipe_run, tmp_path):
    """ESPnet's command line overrides the YAML, so the runner passes no --normalize of its own when the training
    conf sets one (an ablation conf can choose utterance_mvn); --feats_normalize none trains without any
    normalization (it used to pass nothing, and ESPnet's default, utterance_mvn, ran instead)."""
    work, _ = recipe_run
    conf = yaml.safe_load((REPO / "conf" / "tuning" / "train_smt_transformer_cpu.yaml").read_text())
    conf["normalize"] = "utterance_mvn"
    uttmvn = tmp_path / "train_uttmvn.yaml"
    uttmvn.write_text(yaml.safe_dump(conf))
    for tag, args in (("uttmvn", ["--asr_config", str(uttmvn)]), ("nonorm", ["--feats_normalize", "none"])):
        proc = run_recipe(work, "--stage", "5", "--stop_stage", "5", "--asr_tag", tag, *args, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
    trained = yaml.safe_load((work / "exp" / "asr_uttmvn" / "config.yaml").read_text())
    assert trained["normalize"] == "utterance_mvn" and trained["normalize_conf"] == {}
    assert yaml.safe_load((work / "exp" / "asr_nonorm" / "config.yaml").read_text())["normalize"] is None
    conf["normalize"] = "cepstral"
    uttmvn.write_text(yaml.safe_dump(conf))
    proc = run_recipe(work, "--stage", "5", "--stop_stage", "5", "--asr_tag", "bad", "--asr_config", str(uttmvn))
    assert proc.returncode != 0
    assert (f"normalization must be global_mvn, utterance_mvn or none (--feats_normalize or 'normalize:' in "
            f"{uttmvn}), got 'cepstral'") in proc.stderr
