"""Every multi-task YAML under conf/mtl/ builds through MultitaskASRTask (ESPnet's --dry_run habit)."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.test_conf_dry_run import TOKENS

MTL_CONFS = sorted((REPO / "conf" / "mtl").glob("*.yaml"))


def test_there_are_mtl_confs():
    assert {p.name for p in MTL_CONFS} >= {"train_meta_cs_transformer.yaml", "train_joint_cs_transformer_cpu.yaml"}


@pytest.mark.parametrize("conf", MTL_CONFS, ids=lambda p: p.name)
def test_mtl_yaml_dry_run(conf: Path, tmp_path):
    from espnet_ext.tasks.multitask_asr import MultitaskASRTask

    token_list = tmp_path / "tokens.txt"
    token_list.write_text("\n".join(TOKENS) + "\n")
    out = tmp_path / "exp"
    MultitaskASRTask.main(cmd=[
        "--dry_run", "true", "--iterator_type", "none", "--config", str(conf), "--output_dir", str(out),
        "--token_list", str(token_list), "--token_type", "char", "--input_size", "257",
        "--model_conf", "languages=[cs,en,zh]", "--source_tasks", "en", "zh", "cs_a", "--target_task", "cs_b",
    ])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    declared = yaml.safe_load(conf.read_text())
    for key in ("model", "encoder", "decoder", "multitask_mode"):
        assert saved[key] == declared[key]
    assert saved["source_tasks"] == ["en", "zh", "cs_a"] and saved["target_task"] == "cs_b"


@pytest.mark.parametrize("meta", [p for p in MTL_CONFS if p.name.startswith("train_meta_")], ids=lambda p: p.name)
def test_joint_and_meta_confs_differ_only_in_the_update_rule(meta: Path):
    """run.sh derives the joint conf from the meta one (train_meta_ -> train_joint_); the comparison of
    Table 2 is fair only when model, optimiser, batches and budget are the same."""
    joint = meta.with_name(meta.name.replace("train_meta_", "train_joint_"))
    assert joint.is_file(), f"{meta.name} has no joint counterpart {joint.name}"
    m, j = yaml.safe_load(meta.read_text()), yaml.safe_load(joint.read_text())
    assert (m.pop("multitask_mode"), j.pop("multitask_mode")) == ("meta", "joint")
    assert "meta_inner_lr" in m
    m.pop("meta_inner_lr")
    assert m == j


def test_cpu_finetune_conf_matches_its_base_model():
    """--init_param loads the stage-5 model into the fine-tuning conf's model: the architectures must agree."""
    base = yaml.safe_load((REPO / "conf" / "mtl" / "train_joint_cs_conv2d_ctc_cpu.yaml").read_text())
    ft = yaml.safe_load((REPO / "conf" / "tuning" / "finetune_mtl_cs_conv2d_ctc_cpu.yaml").read_text())
    for key in ("model", "model_conf", "encoder", "encoder_conf", "decoder", "decoder_conf", "batch_bins"):
        assert ft[key] == base[key], key
    assert ft["optim"] == "sgd" and ft["optim_conf"]["lr"] == 1.0e-05  # the paper's fine-tuning (§5.2)
