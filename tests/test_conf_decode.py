"""Every shipped decoding YAML (conf/decode*.yaml) holds only options that espnet_ext.bin.asr_inference knows,
and the demo's decoding differs from the A2 paper's only by its length bonus."""

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DECODE_CONFS = sorted((REPO / "conf").glob("decode*.yaml"))


@pytest.fixture(scope="module")
def inference_options():
    from espnet_ext.bin.asr_inference import get_parser

    return {action.dest for action in get_parser()._actions}


@pytest.mark.parametrize("path", DECODE_CONFS, ids=lambda p: p.name)
def test_every_key_is_an_inference_option(path: Path, inference_options):
    conf = yaml.safe_load(path.read_text())
    unknown = sorted(set(conf) - inference_options)
    assert not unknown, f"{path.name}: unknown decoding options {unknown}"


def test_demo_decoding_is_the_paper_decoding_plus_a_length_bonus():
    paper = yaml.safe_load((REPO / "conf" / "decode_asr.yaml").read_text())
    demo = yaml.safe_load((REPO / "conf" / "decode_asr_demo.yaml").read_text())
    assert paper["beam_size"] == demo["beam_size"] == 10 and paper["ctc_weight"] == demo["ctc_weight"] == 0.5
    assert paper["penalty"] == 0.0 and demo["penalty"] > 0
    assert {k: v for k, v in demo.items() if k != "penalty"} == {k: v for k, v in paper.items() if k != "penalty"}
