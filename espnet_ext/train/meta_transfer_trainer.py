"""ESPnet Trainer for meta-transfer learning and for the joint-training baseline.

Winata et al., "Meta-Transfer Learning for Code-Switched Speech Recognition", arXiv:2004.14228, Algorithm 1.
Every iteration takes one batch D_tra_i per source task T_i (e.g. EN, ZH, CS-a) and one batch D_val of
the target task (CS-b, disjoint from CS-a), then

    θ'_i = θ − α ∇_θ L(D_tra_i; θ)                 (eq. 1: one plain SGD step per source task)
    θ    ← Outer(θ, Σ_i ∇ L(D_val; θ'_i))            (Algorithm 1 line 8, eqs. 3–4)

first-order: the target gradient is taken at θ'_i and applied to θ (no second derivatives through eq. 1).
``--meta_outer_grad public_code`` instead applies the gradient the authors' released trainer accumulates
(github.com/audioku/meta-transfer-learning, ``TransientTrainer`` with ``--copy-grad``, the README's command):
its inner-step gradient is not zeroed before the target backward, so each task adds
∇L(D_tra_i; θ) + ∇L(D_val; θ'_i)/n — the source losses at θ enter the outer update directly
(docs/meta_transfer.md, "Outer gradient").  ``Outer`` is ESPnet's configured optimizer (Adam, lr = β in the paper),
with ESPnet's gradient clipping, gradient noise, batch-step schedulers and accumulation applied to the
summed outer gradient.  ``--multitask_mode joint`` instead sums the plain losses of all tasks at θ — the
paper's joint-training baselines (EN+ZH, EN+CS, ZH+CS, EN+ZH+CS).

Inner steps run on the unwrapped module and are undone by copying θ back, so the optimizer's parameter
objects never change.  Under DDP every rank adapts on its own shard (local inner steps) and only the outer
gradient is summed across ranks — each rank's target loss is weighted by its share of the global batch, so
the result is ESPnet's weighted global mean.  ``Trainer.train_one_epoch``'s per-iteration all-reduced
"iterator stop" flag is kept, so ranks with uneven batch counts stop together.
"""

import dataclasses
import logging
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from espnet2.torch_utils.add_gradient_noise import add_gradient_noise
from espnet2.torch_utils.device_funcs import to_device
from espnet2.torch_utils.recursive_op import recursive_average
from espnet2.train.trainer import Trainer, TrainerOptions, autocast, autocast_args
from espnet2.schedulers.abs_scheduler import AbsBatchStepScheduler
from espnet2.utils.types import str_or_none

from espnet_ext.train.multitask_batch import MultiTaskBatch

MULTITASK_MODES = ("meta", "joint")
# algorithm1: Σ_i ∇L(D_val; θ'_i) (Algorithm 1 line 8 as printed);
# public_code: Σ_i [∇L(D_tra_i; θ) + ∇L(D_val; θ'_i) / n] (the authors' released trainer, see the module doc).
META_OUTER_GRADS = ("algorithm1", "public_code")


@dataclasses.dataclass
class MetaTransferTrainerOptions(TrainerOptions):
    multitask_mode: str
    meta_inner_lr: float
    source_tasks: Sequence[str]
    target_task: Optional[str]
    valid_primary: Optional[str]
    meta_target_pool: Optional[str]
    meta_outer_grad: str


@dataclasses.dataclass
class _TaskLoss:
    """A task's loss on one batch: ``local`` (this rank's mean) and ``share`` (its part of the global mean)."""

    local: torch.Tensor
    share: torch.Tensor
    stats: Dict[str, torch.Tensor]
    weight: torch.Tensor


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    if isinstance(model, torch.nn.DataParallel):
        raise ValueError("MetaTransferTrainer does not support single-process multi-GPU DataParallel; "
                         "use DDP (--multiprocessing_distributed true)")
    return model


def _scaled(scaler, loss: torch.Tensor) -> torch.Tensor:
    return scaler.scale(loss) if scaler is not None else loss


def _all_reduce_grads(params: List[torch.nn.Parameter]) -> None:
    """Sum ``.grad`` over ranks in one flat buffer (every rank must hold the same parameter layout)."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    torch.distributed.all_reduce(flat, torch.distributed.ReduceOp.SUM)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view_as(p))
        offset += n


class MetaTransferTrainer(Trainer):
    """ESPnet ``Trainer`` whose iterations consume :class:`MultiTaskBatch` items (Algorithm 1)."""

    @classmethod
    def add_arguments(cls, parser):
        group = parser.add_argument_group("Meta-transfer / joint multi-task training")
        group.add_argument("--multitask_mode", type=str, default="meta", choices=MULTITASK_MODES,
                           help="meta: first-order meta-transfer (Algorithm 1); joint: summed loss of all tasks")
        group.add_argument("--meta_inner_lr", type=float, default=1e-3,
                           help="α of eq. 1, the inner SGD step (not given in the paper)")
        group.add_argument("--source_tasks", type=str, nargs="*", default=[],
                           help="names of the source tasks D_src (e.g. en zh cs_a)")
        group.add_argument("--target_task", type=str_or_none, default=None,
                           help="name of the target task D_tgt (e.g. cs_b); joint mode trains on it as well")
        group.add_argument("--meta_target_pool", type=str_or_none, default=None,
                           help="a source task whose data is also the target pool: D_val is drawn each iteration "
                                "from the whole pool, disjoint from that iteration's batch of this source task "
                                "(Algorithm 1 line 3). Default: a fixed target split disjoint from every source")
        group.add_argument("--meta_outer_grad", type=str, default="algorithm1", choices=META_OUTER_GRADS,
                           help="algorithm1: Σ_i ∇L(D_val; θ'_i) (Algorithm 1 line 8); public_code: the authors' "
                                "released trainer, Σ_i [∇L(D_tra_i; θ) + ∇L(D_val; θ'_i)/n] (source losses at θ "
                                "enter the outer update)")
        group.add_argument("--valid_primary", type=str_or_none, default=None,
                           help="validation set reported as valid.loss/acc (best model, early stopping); "
                                "default: the target task's")

    @classmethod
    def build_options(cls, args) -> MetaTransferTrainerOptions:
        options = MetaTransferTrainerOptions(**{f.name: getattr(args, f.name)
                                                for f in dataclasses.fields(MetaTransferTrainerOptions)})
        if options.multitask_mode not in MULTITASK_MODES:
            raise ValueError(f"--multitask_mode must be one of {MULTITASK_MODES}, got '{options.multitask_mode}'")
        if options.multitask_mode == "meta":
            if options.target_task is None or not options.source_tasks:
                raise ValueError("--multitask_mode meta needs --target_task and at least one --source_tasks")
            if options.target_task in options.source_tasks:
                raise ValueError(f"--target_task '{options.target_task}' is also in --source_tasks: "
                                 "D_src and D_tgt must be different (disjoint) tasks")
            if options.meta_target_pool is not None and options.meta_target_pool not in options.source_tasks:
                raise ValueError(f"--meta_target_pool '{options.meta_target_pool}' must be one of --source_tasks "
                                 f"{list(options.source_tasks)}: it names the source task that shares the target pool")
            if not options.meta_inner_lr > 0:
                raise ValueError(f"--meta_inner_lr must be positive, got {options.meta_inner_lr}")
            if options.meta_outer_grad not in META_OUTER_GRADS:
                raise ValueError(f"--meta_outer_grad must be one of {META_OUTER_GRADS}, got '{options.meta_outer_grad}'")
        elif not cls.training_tasks(options):
            raise ValueError("--multitask_mode joint needs --source_tasks (and/or --target_task)")
        elif options.meta_target_pool is not None:
            raise ValueError("--meta_target_pool applies to --multitask_mode meta only")
        return options

    @staticmethod
    def training_tasks(options) -> List[str]:
        """Tasks drawn each iteration, the target last (its ids lead each multi-task batch)."""
        tasks = [t for t in options.source_tasks if t != options.target_task]
        return tasks + ([options.target_task] if options.target_task is not None else [])

    # ----------------------------------------------------------------------------------------- losses
    @classmethod
    def _task_loss(cls, module, batch: Dict, scaler, distributed: bool) -> _TaskLoss:
        with autocast(scaler is not None, **autocast_args):
            retval = module(**batch)
        if isinstance(retval, dict):
            loss, stats, weight = retval["loss"], retval["stats"], retval["weight"]
        else:
            loss, stats, weight = retval
        stats = {k: v for k, v in stats.items() if v is not None}
        local = loss.sum()
        if distributed:
            # As Trainer.train_one_epoch: weight by batch size, average stats over ranks (a collective).
            share = (loss * weight.type(loss.dtype)).sum()
            stats, weight = recursive_average(stats, weight, True)
            share = share / weight
        else:
            share = local
        return _TaskLoss(local, share, stats, weight)

    @staticmethod
    def _register(reporter, prefix: str, stats: Dict[str, torch.Tensor], weight) -> None:
        reporter.register({f"{prefix}_{k}": v.detach() if isinstance(v, torch.Tensor) else v
                           for k, v in stats.items()}, weight)

    @classmethod
    def meta_gradients(cls, module, params: List[torch.nn.Parameter], tasks: Dict[str, Tuple[List[str], Dict]],
                       options: MetaTransferTrainerOptions, scaler, reporter, distributed: bool) -> List[torch.Tensor]:
        """Σ_i ∇L(D_val; θ'_i), θ'_i = θ − α∇L(D_tra_i; θ) (eq. 1, Algorithm 1 line 8), first order; with
        ``--meta_outer_grad public_code`` Σ_i [∇L(D_tra_i; θ) + ∇L(D_val; θ'_i)/n] (see the module doc)."""
        inv_scale = 1.0 / scaler.get_scale() if scaler is not None and scaler.is_enabled() else 1.0
        public_code = options.meta_outer_grad == "public_code"
        target_weight = 1.0 / len(options.source_tasks) if public_code else 1.0
        theta = [p.detach().clone() for p in params]
        outer = [torch.zeros_like(p) for p in params]
        target_batch = tasks[options.target_task][1]
        target_losses, target_stats = [], []
        for name in options.source_tasks:
            src = cls._task_loss(module, tasks[name][1], scaler, distributed)
            cls._register(reporter, name, src.stats, src.weight)
            # Inner step on this rank's own batch (no all-reduce): plain SGD, eq. 1.  Non-finite inner
            # gradients propagate into the outer gradient, whose clipping check then skips the update.
            grads = torch.autograd.grad(_scaled(scaler, src.local), params, allow_unused=True)
            with torch.no_grad():
                if public_code:
                    # The source gradient at θ joins the outer gradient, as the global mean (× share / local
                    # under DDP, like the target's) over accum_grad.
                    to_share = (src.share / src.local).detach() if src.local.detach() != 0 else 0.0
                    for o, g in zip(outer, grads):
                        if g is not None:
                            o.add_(g * to_share / options.accum_grad)
                for p, g in zip(params, grads):
                    if g is not None:
                        p.sub_(g, alpha=options.meta_inner_lr * inv_scale)
            tgt = cls._task_loss(module, target_batch, scaler, distributed)
            grads = torch.autograd.grad(_scaled(scaler, tgt.share * target_weight / options.accum_grad), params,
                                        allow_unused=True)
            with torch.no_grad():
                for o, g in zip(outer, grads):
                    if g is not None:
                        o.add_(g)
                for p, t in zip(params, theta):
                    p.copy_(t)  # back to θ: every θ'_i starts from the same θ
            target_losses.append(tgt.local.detach())
            target_stats.append((tgt.stats, tgt.weight))
        # Target stats averaged over the adapted models θ'_i; "loss" is the meta objective (eq. 3).
        mean_stats = {k: torch.stack([s[k].detach().reshape(()) for s, _ in target_stats]).mean()
                      for k in target_stats[0][0]}
        cls._register(reporter, options.target_task, mean_stats, target_stats[0][1])
        reporter.register({"loss": torch.stack(target_losses).sum()})
        return outer

    @classmethod
    def joint_gradients(cls, module, params: List[torch.nn.Parameter], tasks: Dict[str, Tuple[List[str], Dict]],
                        options: MetaTransferTrainerOptions, scaler, reporter, distributed: bool) -> List[torch.Tensor]:
        """∇ Σ_t L(D_t; θ): the joint-training baseline, one backward per task to hold one graph at a time."""
        total = [torch.zeros_like(p) for p in params]
        losses = []
        for name in cls.training_tasks(options):
            out = cls._task_loss(module, tasks[name][1], scaler, distributed)
            cls._register(reporter, name, out.stats, out.weight)
            grads = torch.autograd.grad(_scaled(scaler, out.share / options.accum_grad), params, allow_unused=True)
            with torch.no_grad():
                for o, g in zip(total, grads):
                    if g is not None:
                        o.add_(g)
            losses.append(out.local.detach())
        reporter.register({"loss": torch.stack(losses).sum()})
        return total

    # ------------------------------------------------------------------------------------ one epoch
    @classmethod
    def train_one_epoch(cls, model, iterator, optimizers, schedulers, scaler, reporter, summary_writer,
                        options, distributed_option) -> bool:
        if len(optimizers) != 1:
            raise ValueError(f"MetaTransferTrainer uses one outer optimizer (--optim), got {len(optimizers)}")
        optimizer, scheduler = optimizers[0], schedulers[0]
        module = _unwrap(model)
        distributed = distributed_option.distributed
        device = "cuda" if options.ngpu > 0 else "cpu"
        log_interval = options.log_interval
        if log_interval is None:
            try:
                log_interval = max(len(iterator) // 20, 10)
            except TypeError:
                log_interval = 100
        step = cls.meta_gradients if options.multitask_mode == "meta" else cls.joint_gradients
        needed = cls.training_tasks(options)

        model.train()
        params = [p for p in module.parameters() if p.requires_grad]
        all_steps_are_invalid = True
        iterator_stop = torch.tensor(0).to(device)  # the base trainer's stop-flag protocol for uneven ranks
        start_time = time.perf_counter()
        for iiter, (_, batch) in enumerate(reporter.measure_iter_time(iterator, "iter_time"), 1):
            if not isinstance(batch, MultiTaskBatch):
                raise TypeError("MetaTransferTrainer needs a multi-task iterator (espnet_ext.tasks.multitask_asr)")
            missing = [t for t in needed if t not in batch]
            if missing:
                raise KeyError(f"task '{missing[0]}' has no batch in this iteration (tasks given: {sorted(batch)})")
            if distributed:
                torch.distributed.all_reduce(iterator_stop, torch.distributed.ReduceOp.SUM)
                if iterator_stop > 0:
                    break
            tasks = {name: (ids, to_device(dict(b, utt_id=ids), device)) for name, (ids, b) in batch.items()}
            if options.no_forward_run:
                all_steps_are_invalid = False
                continue

            with reporter.measure_time("forward_backward_time"):
                grads = step(module, params, tasks, options, scaler, reporter, distributed)
            with torch.no_grad():
                for p, g in zip(params, grads):
                    if p.grad is None:
                        p.grad = g
                    else:
                        p.grad.add_(g)

            if iiter % options.accum_grad == 0:
                if distributed:
                    _all_reduce_grads(params)  # the outer gradient only; inner steps stay local
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if options.grad_noise:
                    add_gradient_noise(module, reporter.get_total_count(), duration=100, eta=1.0, scale_factor=0.55)
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=options.grad_clip,
                                                           norm_type=options.grad_clip_type)
                if not isinstance(grad_norm, torch.Tensor):
                    grad_norm = torch.tensor(grad_norm)
                if not torch.isfinite(grad_norm):
                    logging.warning(f"The grad norm is {grad_norm}. Skipping updating the model.")
                    if scaler is not None:
                        scaler.step(optimizer)  # skips the step on inf/nan; update() must follow unscale_()
                        scaler.update()
                else:
                    reporter.register({
                        "grad_norm": grad_norm,
                        "clip": torch.where(grad_norm > options.grad_clip, grad_norm.new_tensor(100),
                                            grad_norm.new_tensor(0)),
                        "loss_scale": scaler.get_scale() if scaler else 1.0,
                    })
                    all_steps_are_invalid = False
                    with reporter.measure_time("optim_step_time"):
                        if scaler is not None:
                            scaler.step(optimizer)
                            scaler.update()
                        else:
                            optimizer.step()
                        if isinstance(scheduler, AbsBatchStepScheduler):
                            scheduler.step()
                optimizer.zero_grad()
                reporter.register(dict({f"optim0_lr{j}": pg["lr"] for j, pg in enumerate(optimizer.param_groups)
                                        if "lr" in pg}, train_time=time.perf_counter() - start_time))
                start_time = time.perf_counter()

            reporter.next()
            if iiter % log_interval == 0:
                logging.info(reporter.log_message(-log_interval))
                if summary_writer is not None:
                    reporter.tensorboard_add_scalar(summary_writer, -log_interval)
                if options.use_wandb:
                    reporter.wandb_log()
        else:
            if distributed:
                iterator_stop.fill_(1)
                torch.distributed.all_reduce(iterator_stop, torch.distributed.ReduceOp.SUM)
        return all_steps_are_invalid

    # ------------------------------------------------------------------------------------ validation
    @classmethod
    @torch.no_grad()
    def validate_one_epoch(cls, model, iterator, reporter, options, distributed_option) -> None:
        """Each validation set's stats as ``<set>_<stat>``; the primary set's also as plain ``loss``/``acc``
        so ESPnet's best-model selection, n-best averaging and early stopping follow it (CS dev)."""
        distributed = distributed_option.distributed
        device = "cuda" if options.ngpu > 0 else "cpu"
        primary = options.valid_primary or options.target_task
        model.eval()
        iterator_stop = torch.tensor(0).to(device)
        for utt_id, batch in iterator:
            if distributed:
                torch.distributed.all_reduce(iterator_stop, torch.distributed.ReduceOp.SUM)
                if iterator_stop > 0:
                    break
            if not isinstance(batch, MultiTaskBatch):
                batch = MultiTaskBatch({primary: (utt_id, batch)})  # a plain ESPnet valid iterator
            for name, (ids, b) in batch.items():
                b = to_device(dict(b, utt_id=ids), device)
                if options.no_forward_run:
                    continue
                with autocast(options.use_amp, **autocast_args):
                    retval = model(**b)
                stats, weight = (retval["stats"], retval["weight"]) if isinstance(retval, dict) else retval[1:]
                stats = {k: v for k, v in stats.items() if v is not None}
                if options.ngpu > 1 or distributed:
                    stats, weight = recursive_average(stats, weight, distributed)
                out = {f"{name}_{k}": v for k, v in stats.items()} if name is not None else {}
                if name == primary:
                    out.update(stats)
                reporter.register(out, weight)
                reporter.next()
        else:
            if distributed:
                iterator_stop.fill_(1)
                torch.distributed.all_reduce(iterator_stop, torch.distributed.ReduceOp.SUM)
