"""Turn the config of a model trained on stage-2 dumps into one that takes raw audio.

Usage:
    python -m espnet_ext.bin.raw_audio_config --config exp/asr/config.yaml --fbank_conf conf/fbank_40.yaml \
        [--out exp/asr/config_raw_audio.yaml]

The command line only: what the new config changes, and why, is :mod:`espnet_ext.asr.raw_audio_config`.
"""

import argparse
import sys
from pathlib import Path

from espnet_ext.asr.raw_audio_config import DEFAULT_NAME, write_raw_audio_config
from espnet_ext.utils.cli import cli_main


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, type=Path, help="config.yaml of a model trained on stage-2 features")
    p.add_argument("--fbank_conf", required=True, type=Path, help="the stage-2 feature conf (conf/fbank.yaml)")
    p.add_argument("--out", type=Path, default=None, help=f"default: {DEFAULT_NAME} beside --config")
    args = p.parse_args(argv)
    out = write_raw_audio_config(args.config, args.fbank_conf, args.out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
