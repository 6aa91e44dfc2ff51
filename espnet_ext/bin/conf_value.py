"""Print one top-level scalar of a training YAML, or a default when the YAML does not set it.

Usage: python -m espnet_ext.bin.conf_value --config conf/train.yaml --key normalize [--default global_mvn]

The runner reads with it what a conf decides over a runner option: ESPnet's command line overrides the YAML, so
the runner must not pass its own ``--normalize`` when the conf chose one (egs/TEMPLATE/asr1/asr.sh). A YAML
``null`` prints ``none`` (ESPnet's spelling for "no such module"); a mapping or a list is an error.
"""

import argparse
import sys
from pathlib import Path

import yaml

from espnet_ext.utils.cli import cli_main


def read_conf_value(config: Path, key: str, default: str) -> str:
    """The value of top-level ``key`` in ``config`` as text; ``default`` when the key is absent."""
    if not config.is_file():
        raise FileNotFoundError(f"{config}: file not found")
    conf = yaml.safe_load(config.read_text(encoding="utf-8"))
    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise ValueError(f"{config}: a training config must be a YAML mapping, got {type(conf).__name__}")
    if key not in conf:
        return default
    value = conf[key]
    if value is None:
        return "none"
    if isinstance(value, (dict, list)):
        raise ValueError(f"{config}: '{key}' must be a single value, got a {type(value).__name__}")
    if isinstance(value, bool):  # YAML true/false, spelt as the command line spells them
        return str(value).lower()
    return str(value)


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="training YAML")
    p.add_argument("--key", required=True, help="top-level key")
    p.add_argument("--default", default="", help="printed when the YAML does not set the key")
    args = p.parse_args(argv)
    print(read_conf_value(args.config, args.key, args.default))
    return 0


if __name__ == "__main__":
    sys.exit(main())
