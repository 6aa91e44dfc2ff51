"""Tiny multi-task ASR setups for the meta-transfer tests: npy features, char text, a 2-layer model."""

import argparse
from pathlib import Path
from typing import Dict, List

import numpy as np
import yaml

FEAT_DIM = 8
TOKENS = ["<blank>", "<unk>", "<space>"] + [chr(c) for c in range(ord("a"), ord("h"))] + ["<sos/eos>"]
WORDS = ["abc", "bad", "cafe", "dead", "face", "bead", "gab", "ace"]

MODEL_CONF = {
    "model": "multilingual",
    "model_conf": {"ctc_weight": 0.3, "lsm_weight": 0.1, "languages": ["cs", "en", "zh"]},
    "normalize": None,
    "encoder": "transformer",
    "encoder_conf": {"output_size": 16, "attention_heads": 2, "linear_units": 32, "num_blocks": 1,
                     "dropout_rate": 0.0, "positional_dropout_rate": 0.0, "attention_dropout_rate": 0.0,
                     "input_layer": "linear"},
    "decoder": "transformer",
    "decoder_conf": {"attention_heads": 2, "linear_units": 32, "num_blocks": 1, "dropout_rate": 0.0,
                     "positional_dropout_rate": 0.0, "self_attention_dropout_rate": 0.0,
                     "src_attention_dropout_rate": 0.0},
    "optim": "adam",
    "optim_conf": {"lr": 0.01},
    "batch_type": "unsorted",
    "batch_size": 2,
    "num_workers": 0,
    "num_att_plot": 0,
    "grad_clip": 1.0e6,
    "seed": 3,
    "best_model_criterion": [["valid", "loss", "min"]],
    "keep_nbest_models": 2,
}


def write_task(root: Path, name: str, n_utts: int, seed: int) -> Dict[str, List[str]]:
    """Write a task's npy features, text and shape file; return its ESPnet multi-task flag values."""
    rng = np.random.default_rng(seed)
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    scp, text, shape = [], [], []
    for i in range(n_utts):
        utt = f"{name}-{i:03d}"
        frames = int(rng.integers(6, 12))
        np.save(d / f"{utt}.npy", rng.normal(size=(frames, FEAT_DIM)).astype(np.float32))
        scp.append(f"{utt} {d / (utt + '.npy')}")
        text.append(f"{utt} {' '.join(rng.choice(WORDS, size=2))}")
        shape.append(f"{utt} {frames},{FEAT_DIM}")
    for fname, rows in (("feats.scp", scp), ("text", text), ("shape", shape)):
        (d / fname).write_text("\n".join(rows) + "\n")
    return {"data": [f"{name},{d / 'feats.scp'},speech,npy", f"{name},{d / 'text'},text,text"],
            "shape": [f"{name},{d / 'shape'}"]}


def write_setup(root: Path, train: Dict[str, int], valid: Dict[str, int]) -> Path:
    """Data for ``train``/``valid`` {task: #utts}, a token list and a config; returns the config path."""
    conf = dict(MODEL_CONF)
    conf["multitask_train_data"], conf["multitask_train_shape_file"] = [], []
    conf["multitask_valid_data"], conf["multitask_valid_shape_file"] = [], []
    for i, (name, n) in enumerate(train.items()):
        flags = write_task(root / "train", name, n, seed=i)
        conf["multitask_train_data"] += flags["data"]
        conf["multitask_train_shape_file"] += flags["shape"]
    for i, (name, n) in enumerate(valid.items()):
        flags = write_task(root / "valid", name, n, seed=100 + i)
        conf["multitask_valid_data"] += flags["data"]
        conf["multitask_valid_shape_file"] += flags["shape"]
    (root / "tokens.txt").write_text("\n".join(TOKENS) + "\n")
    conf["token_list"] = str(root / "tokens.txt")
    conf["token_type"] = "char"
    conf["input_size"] = FEAT_DIM
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(conf))
    return path


def parse_args(config: Path, output_dir: Path, extra: List[str]) -> argparse.Namespace:
    from espnet_ext.tasks.multitask_asr import MultitaskASRTask

    parser = MultitaskASRTask.get_parser()
    return parser.parse_args(["--config", str(config), "--output_dir", str(output_dir)] + extra)
