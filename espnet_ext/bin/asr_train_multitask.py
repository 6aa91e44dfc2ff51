"""Meta-transfer / joint multi-task ASR training (Winata et al., arXiv:2004.14228, Algorithm 1).

Usage:
    python -m espnet_ext.bin.asr_train_multitask --config conf/mtl/train_meta_cs_transformer_cpu.yaml \\
        --output_dir exp/meta --token_list data/token_list/char/tokens.txt --token_type char \\
        --input_size 257 --model_conf languages=[cs,en,zh] \\
        --source_tasks en zh cs_a --target_task cs_b \\
        --multitask_train_data en,dump/en/feats.scp,speech,kaldi_ark \\
        --multitask_train_data en,dump/en/text,text,text --multitask_train_shape_file en,exp/stats/en_shape ...
        --multitask_valid_data cs,dump/cs_dev/feats.scp,speech,kaldi_ark ... --valid_primary cs

Every option of ``python -m espnet_ext.bin.asr_train`` is accepted as well (see docs/meta_transfer.md).
"""

import sys
from typing import List, Optional

from espnet_ext.tasks.multitask_asr import MultitaskASRTask
from espnet_ext.utils.cli import cli_main


def get_parser():
    return MultitaskASRTask.get_parser()


@cli_main(configure_logging=False)  # ESPnet's AbsTask.main configures logging
def main(cmd: Optional[List[str]] = None):
    MultitaskASRTask.main(cmd=cmd)


if __name__ == "__main__":
    sys.exit(main())
