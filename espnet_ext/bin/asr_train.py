"""ESPnet's ASR training entry point with espnet_ext's plugins registered.

Usage: python -m espnet_ext.bin.asr_train --config conf/train.yaml --output_dir exp/asr ...
Accepts every option of ``python -m espnet2.bin.asr_train`` (the parser is ESPnet's own, extended by
``espnet_ext.tasks.asr.MultilingualASRTask`` with the ``lang`` data key).
"""

import sys
from typing import List, Optional

from espnet_ext.tasks.asr import MultilingualASRTask
from espnet_ext.utils.cli import cli_main


def get_parser():
    return MultilingualASRTask.get_parser()


@cli_main(configure_logging=False)  # ESPnet's AbsTask.main configures logging
def main(cmd: Optional[List[str]] = None):
    MultilingualASRTask.main(cmd=cmd)


if __name__ == "__main__":
    sys.exit(main())
