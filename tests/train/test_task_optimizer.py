"""espnet_ext.train.task_optimizer: the optimizer a training conf builds, fused Adam on request."""

import torch

from espnet_ext.train.task_optimizer import task_optimizer


def test_fused_adam_on_request_steps_like_the_default_loop():
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.Linear(5, 3))
              for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    fused, loop = task_optimizer(models[0], lr=0.01, fused=True), task_optimizer(models[1], lr=0.01)
    assert isinstance(fused, torch.optim.Adam) and fused.defaults["fused"] is True and not loop.defaults["fused"]
    start = models[0][0].weight.detach().clone()
    x = torch.randn(4, 6)
    for _ in range(3):
        for model, opt in zip(models, (fused, loop)):
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.allclose(a, b, atol=1e-6)  # same update rule, one kernel instead of a loop over tensors
    assert (models[0][0].weight - start).abs().max() > 1e-3
