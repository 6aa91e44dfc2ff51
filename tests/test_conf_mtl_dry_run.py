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
