"""Turn the config of a model trained on stage-2 dumps into one that takes raw audio.

The library of ``python -m espnet_ext.bin.raw_audio_config``, and of the model archives
(:mod:`espnet_ext.asr.packed_model`) and ``espnet_ext.bin.transcribe``, which convert a config the same way.

Why a second config and not a change to training: training on dumps pays feature extraction once (stage 2);
decoding a user's wav should not need a data dir and a dump.  ESPnet's ``ASRTask.build_model`` builds a
frontend only when ``input_size`` is null, and then takes the encoder's input size from
``frontend.output_size()``; so the new config sets ``frontend: stage2_fbank`` with the stage-2 conf values
and ``input_size: null``, and keeps ``normalize``/``normalize_conf`` (the same global CMVN stats).  The
weights are untouched (the frontend has none).  The feature options are not recorded in a training config,
so they are given (the conf stage 2 ran with); a dimension that disagrees with ``input_size`` is an error.
"""

import copy
from pathlib import Path
from typing import Optional

import yaml

from espnet_ext.dataprep.fbank import FbankConfig, read_fbank_conf

FRONTEND_NAME = "stage2_fbank"
DEFAULT_NAME = "config_raw_audio.yaml"


def raw_audio_config(config: dict, fbank: FbankConfig, source: str = "config") -> dict:
    """A copy of ``config`` (a features model's config.yaml, as a dict) whose model takes waveforms."""
    if config.get("frontend") == FRONTEND_NAME and config.get("input_size") is None:
        return copy.deepcopy(config)  # already converted
    if config.get("input_size") is None:
        raise ValueError(f"{source}: the model already has a frontend ('{config.get('frontend')}', input_size null); "
                         "only a model trained on stage-2 features (input_size set, frontend null) is converted")
    if int(config["input_size"]) != fbank.dim:
        raise ValueError(f"{source}: input_size {config['input_size']} differs from the {fbank.dim}-dim features of "
                         f"the feature conf given ({fbank}): give the conf stage 2 ran with (e.g. conf/fbank_40.yaml "
                         "for 40 bins)")
    out = copy.deepcopy(config)
    out["frontend"] = FRONTEND_NAME
    out["frontend_conf"] = dict(vars(fbank))
    out["input_size"] = None
    return out


def write_raw_audio_config(config_path, fbank_conf, out: Optional[Path] = None) -> Path:
    config_path = Path(config_path)
    fbank = fbank_conf if isinstance(fbank_conf, FbankConfig) else read_fbank_conf(fbank_conf)
    with open(config_path, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    out = Path(out) if out is not None else config_path.with_name(DEFAULT_NAME)
    converted = raw_audio_config(config, fbank, source=str(config_path))
    out.write_text(yaml.safe_dump(converted, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return out
