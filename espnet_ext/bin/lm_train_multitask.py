"""Meta-transfer / joint / Only-CS training of the code-switching LSTM LM (Winata et al., arXiv:2004.14228, §5.4).

Usage:
    python -m espnet_ext.bin.lm_train_multitask --config conf/lm/train_lm_meta.yaml \\
        --output_dir exp/lm_meta --token_list data/token_list/char/tokens.txt --token_type char \\
        --source_tasks en zh cs_a --target_task cs_b --valid_primary cs \\
        --multitask_train_data en,data/en_train/text,text,text --multitask_train_shape_file en,data/en_train/text \\
        (… likewise zh, cs_a, cs_b) \\
        --multitask_valid_data cs,data/cs_dev/text,text,text --multitask_valid_shape_file cs,data/cs_dev/text

With ``batch_type: unsorted`` (conf/lm/*.yaml) a Kaldi ``text`` file serves as its own shape file.  Every
option of ``espnet2.bin.lm_train`` is accepted as well (see docs/cs_language_model.md).
"""

import sys
from typing import List, Optional

from espnet_ext.tasks.multitask_lm import MultitaskLMTask
from espnet_ext.utils.cli import cli_main


def get_parser():
    return MultitaskLMTask.get_parser()


@cli_main(configure_logging=False)  # ESPnet's AbsTask.main configures logging
def main(cmd: Optional[List[str]] = None):
    MultitaskLMTask.main(cmd=cmd)


if __name__ == "__main__":
    sys.exit(main())
