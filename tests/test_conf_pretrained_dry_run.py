"""Every conf/tuning_pretrained YAML builds through ESPnet's task, pointed at a tiny local BERT / XLM-R dir."""

from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import REPO
from tests.pretrained_lm_fixtures import make_bert_dir, make_xlmr_dir

CONFS = sorted((REPO / "conf" / "tuning_pretrained").glob("*.yaml"))
TOKENS = ["<blank>", "<unk>", "▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["<sos/eos>"]


@pytest.fixture(scope="module")
def lm_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    # 4 layers: the CPU confs use the first 4 layers of the pretrained LM
    return {"bert": make_bert_dir(root / "bert", layers=4), "xlmr": make_xlmr_dir(root / "xlmr", layers=4)}


def dry_run(conf: Path, out: Path, lm_dir: Path, token_list: Path):
    from espnet_ext.tasks.asr import MultilingualASRTask

    declared = yaml.safe_load(conf.read_text())
    languages = "[en]" if "_st_" in conf.name else "[en,fr,zh]"
    cmd = ["--dry_run", "true", "--iterator_type", "none", "--config", str(conf), "--output_dir", str(out),
           "--token_list", str(token_list), "--token_type", "char", "--input_size", "80",
           "--model_conf", f"languages={languages}"]
    if declared["decoder"] == "pretrained_lm":
        cmd += ["--decoder_conf", f"pretrained_path={lm_dir}", "--decoder_conf", f"token_list={token_list}"]
    MultilingualASRTask.main(cmd=cmd)
    return declared, yaml.safe_load((out / "config.yaml").read_text())


def test_there_are_confs():
    names = {c.name for c in CONFS}
    for row in ("train_a2_smt_mbert_cpu.yaml", "train_a2_bs_mbert_cpu.yaml", "train_a2_bs_dual_adapters_mbert_cpu.yaml",
                "train_a2_smt_adjust_train_mbert_cpu.yaml", "train_a2_mbert_cpu.yaml",
                "train_st_mbert_cpu.yaml", "train_st_transformer_cpu.yaml"):
        assert row in names


# "A2 with XLM-R" (Table 2) is train_a2_mbert*.yaml with an XLM-R checkpoint as pretrained_path: both LM kinds.
RUNS = [(c, "bert") for c in CONFS] + [(c, "xlmr") for c in CONFS if c.name.startswith("train_a2_mbert")]


@pytest.mark.parametrize("conf, lm_kind", RUNS, ids=lambda x: x.name if isinstance(x, Path) else x)
def test_pretrained_yaml_dry_run(conf: Path, lm_kind, tmp_path, lm_dirs):
    token_list = tmp_path / "tokens.txt"
    token_list.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    lm = lm_dirs[lm_kind]
    declared, saved = dry_run(conf, tmp_path / "exp", lm, token_list)
    for key in ("model", "encoder", "decoder"):
        assert saved[key] == declared[key]
    if declared["decoder"] == "pretrained_lm":
        assert saved["decoder_conf"]["pretrained_path"] == str(lm)
        assert saved["decoder_conf"]["languages"] == saved["model_conf"]["languages"]


def test_a2_model_trains_one_step_and_reloads(tmp_path, lm_dirs):
    """BS + Dual-Adapters + pretrained-LM decoder: build from its YAML, rebuild from the saved config.yaml
    (ESPnet's inference path), then forward/backward with per-utterance languages."""
    from espnet_ext.tasks.asr import MultilingualASRTask

    token_list = tmp_path / "tokens.txt"
    token_list.write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    conf = REPO / "conf" / "tuning_pretrained" / "train_a2_bs_dual_adapters_mbert_cpu.yaml"
    dry_run(conf, tmp_path / "exp", lm_dirs["bert"], token_list)
    model, _ = MultilingualASRTask.build_model_from_file(str(tmp_path / "exp" / "config.yaml"), None, "cpu")
    torch.manual_seed(0)
    speech, lengths = torch.randn(2, 60, 80), torch.tensor([60, 45])
    text, text_lengths = torch.tensor([[3, 4, 5], [6, 7, -1]]), torch.tensor([3, 2])
    loss, stats, _ = model(speech, lengths, text, text_lengths, lang=torch.tensor([[0], [2]]),
                           lang_lengths=torch.tensor([1, 1]))
    loss.backward()
    assert torch.isfinite(loss) and stats["acc"] is not None
    cross = model.decoder.layers[0].cross_attn.out.weight
    assert cross.grad is not None and cross.grad.abs().sum() > 0
    adapters = model.decoder.layers[0].adapter
    assert adapters.lang_adapters["en"].up.weight.grad.abs().sum() > 0  # utterance 0 is English
    assert adapters.lang_adapters["fr"].up.weight.grad is None or adapters.lang_adapters["fr"].up.weight.grad.abs().sum() == 0
