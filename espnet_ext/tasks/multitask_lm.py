"""LM task trained by meta-transfer learning or joint training on one iterator per named task.

Winata et al., "Meta-Transfer Learning for Code-Switched Speech Recognition", arXiv:2004.14228, §5.4 / Table 4:
the 2-layer LSTM LM (ESPnet's ``seq_rnn`` LM, ``rnn_type: lstm``, ``nlayers: 2``) trained on the transcripts
of the same EN / ZH / CS sets with the modes of the ASR model: Only-CS, joint training and first-order
meta-transfer (Algorithm 1: inner SGD step α on each source task, outer SGD step on the target task CS-b).
Per-task data flags and iterators come from :class:`MultiTaskDataMixin` (shared with the ASR task), the
update from :class:`MetaTransferTrainer`; everything else (tokenisation by ``--token_type char|bpe|word``,
model building, ``config.yaml`` that ``Speech2Text --lm_train_config`` loads) is ESPnet's ``LMTask``.
Fine-tuning on CS is plain ``espnet2.bin.lm_train`` (conf/lm/finetune_lm.yaml).
"""

from espnet2.tasks.lm import LMTask

from espnet_ext.tasks.multitask_data import MultiTaskDataMixin
from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer


class MultitaskLMTask(MultiTaskDataMixin, LMTask):
    """ESPnet's ``LMTask`` with per-task iterators, trained by :class:`MetaTransferTrainer`."""

    trainer = MetaTransferTrainer
