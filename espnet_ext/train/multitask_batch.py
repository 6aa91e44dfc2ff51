"""The item a multi-task iterator yields: one ESPnet mini-batch per named task.

Meta-transfer learning (Winata et al., arXiv:2004.14228, Algorithm 1 line 3) samples, every iteration, a
training batch per source task and a validation batch from the target task.  ESPnet's ``Trainer.run``
hands ``train_one_epoch`` a single iterator of ``(utt_ids, batch)`` pairs; the multi-task iterator keeps
that shape and makes ``batch`` a :class:`MultiTaskBatch`, so a trainer can tell it apart from an
ordinary batch dict while ESPnet's own ``isinstance(batch, dict)`` checks still hold.
"""

from typing import Dict, List, Tuple

import torch

TaskItem = Tuple[List[str], Dict[str, torch.Tensor]]


class MultiTaskBatch(dict):
    """``{task name: (utt_ids, batch dict)}`` for the tasks sampled in one iteration."""

    def task(self, name: str) -> TaskItem:
        if name not in self:
            raise KeyError(f"task '{name}' is not in this multi-task batch (tasks: {sorted(self)})")
        return self[name]
