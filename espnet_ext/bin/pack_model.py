"""Pack a trained model into one zip that decodes anywhere (``espnet_ext.bin.transcribe --model model.zip``).

Usage:
    python -m espnet_ext.bin.pack_model --exp_dir exp/asr --model_file valid.acc.ave.pth \
        --fbank_conf conf/fbank_40.yaml --out model.zip

The command line only: why an archive, what it holds and how it is unpacked are
:mod:`espnet_ext.asr.packed_model`, shared with transcribe, which reads the archives.
"""

import argparse
import sys
from pathlib import Path

import yaml

from espnet_ext.asr.packed_model import pack
from espnet_ext.utils.cli import cli_main


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Pack a trained espnet_ext model into one zip (see "
                                            "espnet_ext.asr.packed_model)")
    p.add_argument("--exp_dir", required=True, type=Path)
    p.add_argument("--model_file", default="valid.acc.ave.pth", help="weights, relative to --exp_dir or a path")
    p.add_argument("--fbank_conf", default=None, type=Path,
                   help="the stage-2 feature conf the model was trained with (conf/fbank.yaml); needed unless the "
                        "config already takes raw audio")
    p.add_argument("--config", default="config.yaml", help="config file name inside --exp_dir")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    if args.fbank_conf is None:
        with open(args.exp_dir / args.config, encoding="utf-8") as f:
            if yaml.safe_load(f).get("input_size") is not None:
                raise ValueError("--fbank_conf is needed: the model takes stage-2 features, and the archive's "
                                 "config.yaml must know how to compute them from audio")
    out = pack(args.exp_dir, args.model_file, args.out, args.fbank_conf, args.config)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
