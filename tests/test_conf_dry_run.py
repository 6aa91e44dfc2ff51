"""Every shipped training YAML builds a model through ESPnet's task (ESPnet's --dry_run habit)."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

TRAIN_CONFS = sorted((REPO / "conf" / "tuning").glob("*.yaml"))
TOKENS = ["<blank>", "<unk>"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["<sos/eos>"]


def test_there_are_confs():
    assert len(TRAIN_CONFS) >= 2


@pytest.mark.parametrize("conf", TRAIN_CONFS, ids=lambda p: p.name)
def test_training_yaml_dry_run(conf: Path, tmp_path):
    from espnet_ext.tasks.asr import MultilingualASRTask

    token_list = tmp_path / "tokens.txt"
    token_list.write_text("\n".join(TOKENS) + "\n")
    out = tmp_path / "exp"
    MultilingualASRTask.main(cmd=[
        "--dry_run", "true", "--iterator_type", "none", "--config", str(conf), "--output_dir", str(out),
        "--token_list", str(token_list), "--token_type", "char", "--input_size", "80",
        "--model_conf", "languages=[en,fr,zh]",
    ])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    declared = yaml.safe_load(conf.read_text())
    for key in ("model", "encoder", "decoder"):
        assert saved[key] == declared[key]
    assert saved["model_conf"]["languages"] == ["en", "fr", "zh"]
