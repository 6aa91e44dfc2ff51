"""The optimizer that an ESPnet task's training would build for a model, built outside a training run.

Tools that time or compare training steps (the benchmarks) must step the model with the optimizer the
training configs give it (``optim: adam``), built by the task's own ``build_optimizers``, not one of their
own making; this is that construction, with the task's defaults filled in.
"""

import argparse

import torch


def task_optimizer(model: torch.nn.Module, task=None, lr: float = 1e-4,
                   fused: bool = False) -> torch.optim.Optimizer:
    """The Adam optimizer that ``task``'s training builds for ``model`` (default ``MultilingualASRTask``) from
    ``optim: adam`` and ``optim_conf: {lr: ..., fused: true}`` when ``fused`` (PyTorch's default otherwise)."""
    if task is None:
        from espnet_ext.tasks.asr import MultilingualASRTask as task
    conf = {"lr": lr, "fused": True} if fused else {"lr": lr}
    args = argparse.Namespace(optim="adam", optim_conf=conf, sharded_ddp=False, exclude_weight_decay=False,
                              exclude_weight_decay_conf={})
    return task.build_optimizers(args, model)[0]
