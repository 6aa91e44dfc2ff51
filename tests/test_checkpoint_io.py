"""Checkpoints (issue 17): espnet_ext writes models atomically; a truncated checkpoint.pth on resume is an
error naming the file instead of a bare unpickling error."""

import re

import pytest
import torch
import yaml

from espnet_ext.checkpoint_io import CorruptCheckpointError, check_resume_checkpoint, save_atomic
from tests.conftest import REPO


def test_save_atomic_keeps_the_old_file_when_saving_is_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    save_atomic({"w": torch.ones(3)}, path)
    before = path.read_bytes()

    def killed_midway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        save_atomic({"w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]  # no temporary file left


def test_espnet_ext_saves_models_only_through_save_atomic():
    offenders = [f"{p.relative_to(REPO)}:{i}" for p in sorted((REPO / "espnet_ext").rglob("*.py"))
                 if p.name != "checkpoint_io.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"\btorch\.save\(", line)]
    assert offenders == []


def test_truncated_checkpoint_on_resume_names_the_file(tmp_path, capsys):
    from espnet_ext.bin import asr_train

    exp = tmp_path / "exp"
    exp.mkdir()
    torch.save({"model": {"w": torch.zeros(2000)}, "reporter": {}, "optimizers": []}, exp / "checkpoint.pth")
    torch.save({"w": torch.zeros(10)}, exp / "2epoch.pth")
    torch.save({"w": torch.zeros(10)}, exp / "3epoch.pth")
    data = (exp / "checkpoint.pth").read_bytes()
    (exp / "checkpoint.pth").write_bytes(data[:len(data) // 2])  # killed while saving
    (tmp_path / "tokens.txt").write_text("<blank>\n<unk>\na\n<sos/eos>\n")
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({"encoder": "transformer", "decoder": "transformer"}))
    # the entry point (espnet_ext.utils.cli) prints the CorruptCheckpointError as one ERROR line, exit status 1
    assert asr_train.main(cmd=["--config", str(tmp_path / "train.yaml"), "--output_dir", str(exp), "--resume", "true",
                               "--token_list", str(tmp_path / "tokens.txt"), "--token_type", "char",
                               "--input_size", "8"]) == 1
    [message] = [line[len("ERROR: "):] for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR: ")]
    assert message.startswith(f"{exp / 'checkpoint.pth'} is truncated or corrupt (killed while saving?): "
                              f"not a complete zip archive")
    assert message.endswith(f"delete it to restart training from epoch 1; or, to keep the weights of the last "
                            f"finished epoch, delete it and add --init_param {exp / '3epoch.pth'} (the epoch count "
                            f"and optimizer state then start afresh)")


def test_whole_and_empty_checkpoints(tmp_path):
    path = tmp_path / "checkpoint.pth"
    check_resume_checkpoint(path)  # absent: nothing to resume, no error
    torch.save({"model": {}}, path)
    check_resume_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match=r"checkpoint.pth is truncated or corrupt .*: the file is empty"):
        check_resume_checkpoint(path)
