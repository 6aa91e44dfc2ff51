"""ASR task whose training draws one batch per named task: meta-transfer learning and joint training.

Winata et al., "Meta-Transfer Learning for Code-Switched Speech Recognition", arXiv:2004.14228 (Algorithm 1,
§3.1, Table 2).  Each task (EN, ZH, CS-a, CS-b, ...) keeps ESPnet's own data files, shape files and
batching; the options name them per task, mirroring ESPnet's flags:

    --multitask_train_data NAME,PATH,KEY,TYPE        (repeat per file and task)
    --multitask_train_shape_file NAME,PATH
    --multitask_valid_data NAME,PATH,KEY,TYPE        (validation sets: e.g. cs, en, zh)
    --multitask_valid_shape_file NAME,PATH

The trainer (``MetaTransferTrainer``) adds the roles: ``--source_tasks``, ``--target_task``,
``--multitask_mode meta|joint``, ``--valid_primary``.  Target utterances must not occur in any source task
(§3.1); that is checked on the data files before training.  Without ``--multitask_train_data`` (and for
``--collect_stats``) the task behaves exactly like ``MultilingualASRTask``.
"""

from espnet_ext.tasks.asr import MultilingualASRTask
from espnet_ext.tasks.multitask_data import (  # noqa: F401  (helpers re-exported for existing callers)
    MultiTaskDataMixin,
    check_disjoint,
    read_utt_ids,
)
from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer


class MultitaskASRTask(MultiTaskDataMixin, MultilingualASRTask):
    """``MultilingualASRTask`` trained by :class:`MetaTransferTrainer` on one iterator per named task
    (per-task data flags and iterators: :class:`MultiTaskDataMixin`)."""

    trainer = MetaTransferTrainer
