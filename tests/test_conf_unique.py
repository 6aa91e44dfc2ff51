"""No two shipped configs are the same config: identical once comments and layout are gone (issue 18).

Two files that differ only in comments read as two experiments in a table while training the same thing;
merge them and let the option that differs (a checkpoint path, a task set) be given on the command line."""

from collections import defaultdict

import yaml

from tests.conftest import REPO


def canonical(path) -> str:
    """The config's content without comments, key order or layout."""
    return yaml.safe_dump(yaml.safe_load(path.read_text(encoding="utf-8")), sort_keys=True)


def duplicates(paths):
    groups = defaultdict(list)
    for path in paths:
        groups[canonical(path)].append(path)
    return [sorted(str(p) for p in g) for g in groups.values() if len(g) > 1]


def test_no_two_shipped_configs_are_identical():
    confs = sorted((REPO / "conf").rglob("*.yaml")) + sorted((REPO / "egs").glob("*/asr1/conf/**/*.yaml"))
    assert len(confs) > 50
    assert duplicates(confs) == []


def test_the_check_sees_through_comments_and_key_order(tmp_path):
    (tmp_path / "a.yaml").write_text("# A2 with mBERT\nmodel: x\nmodel_conf:\n    tau: 0.3\n")
    (tmp_path / "b.yaml").write_text("model_conf: {tau: 0.3}   # A2 with XLM-R\nmodel: x\n")
    (tmp_path / "c.yaml").write_text("model: x\nmodel_conf:\n    tau: 0.5\n")
    assert duplicates(sorted(tmp_path.glob("*.yaml"))) == [[str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")]]
