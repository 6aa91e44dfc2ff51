"""One rank of the 2-process gloo test: a meta-transfer epoch with uneven batch counts, params saved."""

import os
import sys
from pathlib import Path

import torch


def main(rank: int, world: int, port: int, root: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.reporter import Reporter

    from espnet_ext.tasks.multitask_asr import MultitaskASRTask
    from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer
    from tests.train.tiny_multitask import parse_args

    args = parse_args(root / "config.yaml", root / "exp", ["--source_tasks", "en", "cs_a", "--target_task", "cs_b",
                                                           "--valid_primary", "cs"])
    torch.manual_seed(0)  # same initial θ on both ranks (DDP also broadcasts it)
    model = MultitaskASRTask.build_model(args)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    option = DistributedOption(distributed=True, dist_backend="gloo", dist_rank=rank, dist_world_size=world)
    items = list(MultitaskASRTask.build_iter_factory(args, option, "train").build_iter(1))
    if rank == 1:
        items = items[:-1]  # uneven ranks: the stop flag must end both loops without a hang
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("train") as sub:
        MetaTransferTrainer.train_one_epoch(
            model=ddp, iterator=items, optimizers=[optimizer], schedulers=[None], scaler=None, reporter=sub,
            summary_writer=None, options=MetaTransferTrainer.build_options(args), distributed_option=option)
        # Optimizer updates done (grad_norm is registered once per update).
        steps = sum(1 for v in sub.stats["grad_norm"] if torch.isfinite(torch.as_tensor(v.value)))
    torch.save({"params": [p.detach() for p in model.parameters()], "steps": steps}, root / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
