"""MultilingualASRTask.build_optimizers: Adam / AdamW fused by default, the user's choice kept otherwise."""

import argparse

import pytest
import torch

from espnet_ext.tasks.asr import MultilingualASRTask, fused_adam_default


@pytest.mark.parametrize("optim, conf, sharded, fused", [
    ("adam", {}, False, True),
    ("adamw", {"lr": 1e-3}, False, True),
    ("adam", {"fused": False}, False, False),
    ("adam", {"foreach": True}, False, False),
    ("sgd", {}, False, False),
    ("adam", {}, True, False),
])
def test_fused_default_only_when_the_conf_chooses_nothing(optim, conf, sharded, fused):
    assert fused_adam_default(optim, conf, sharded) is fused


def args_for(optim_conf):
    return argparse.Namespace(optim="adam", optim_conf=optim_conf, sharded_ddp=False, exclude_weight_decay=False,
                              exclude_weight_decay_conf={})


def test_fused_adam_steps_like_the_loop_and_config_keeps_the_users_conf():
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 3))
              for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    args = args_for({"lr": 0.01})
    fused = MultilingualASRTask.build_optimizers(args, models[0])[0]
    loop = MultilingualASRTask.build_optimizers(args_for({"lr": 0.01, "fused": False}), models[1])[0]
    assert fused.defaults["fused"] is True and not loop.defaults["fused"]
    assert args.optim_conf == {"lr": 0.01}  # what config.yaml records is the user's conf
    start = models[0][0].weight.detach().clone()
    x = torch.randn(4, 6)
    for _ in range(3):
        for model, opt in zip(models, (fused, loop)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert (models[0][0].weight - start).abs().max() > 1e-3  # the steps moved the weights
