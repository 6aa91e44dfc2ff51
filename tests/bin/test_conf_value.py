"""espnet_ext.bin.conf_value: what the runner reads from a training YAML (its `normalize:`)."""

import pytest

from espnet_ext.bin.conf_value import main, read_conf_value


def test_set_absent_null_and_boolean_values(tmp_path):
    conf = tmp_path / "train.yaml"
    conf.write_text("normalize: utterance_mvn\nspecaug: null\nuse_amp: true\nmax_epoch: 12\n")
    assert read_conf_value(conf, "normalize", "global_mvn") == "utterance_mvn"
    assert read_conf_value(conf, "frontend", "default") == "default"  # absent: the runner's option
    assert read_conf_value(conf, "specaug", "x") == "none"  # ESPnet's spelling of "no module"
    assert read_conf_value(conf, "use_amp", "") == "true"
    assert read_conf_value(conf, "max_epoch", "") == "12"
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert read_conf_value(empty, "normalize", "global_mvn") == "global_mvn"


def test_cli_prints_the_value(tmp_path, capsys):
    conf = tmp_path / "train.yaml"
    conf.write_text("normalize: utterance_mvn\n")
    assert main(["--config", str(conf), "--key", "normalize", "--default", "global_mvn"]) == 0
    assert capsys.readouterr().out == "utterance_mvn\n"


@pytest.mark.parametrize("text, message", [
    ("normalize: {a: 1}\n", "'normalize' must be a single value, got a dict"),
    ("- normalize\n", "a training config must be a YAML mapping, got list"),
])
def test_errors_name_the_file(tmp_path, capsys, text, message):
    conf = tmp_path / "train.yaml"
    conf.write_text(text)
    assert main(["--config", str(conf), "--key", "normalize"]) == 1
    assert capsys.readouterr().err.strip() == f"ERROR: {conf}: {message}"
    assert main(["--config", str(tmp_path / "missing.yaml"), "--key", "normalize"]) == 1
    assert f"ERROR: {tmp_path / 'missing.yaml'}: file not found" in capsys.readouterr().err
