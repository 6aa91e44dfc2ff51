"""Per-task ESPnet iterators for meta-transfer and joint training, shared by the ASR and LM tasks.

Winata et al., "Meta-Transfer Learning for Code-Switched Speech Recognition", arXiv:2004.14228 (Algorithm 1,
§3.1; §5.4 applies the same training to the LM).  Each task (EN, ZH, CS-a, CS-b, ...) keeps ESPnet's own
data files, shape files and batching; the options name them per task, mirroring ESPnet's flags:

    --multitask_train_data NAME,PATH,KEY,TYPE        (repeat per file and task)
    --multitask_train_shape_file NAME,PATH
    --multitask_valid_data NAME,PATH,KEY,TYPE        (validation sets: e.g. cs, en, zh)
    --multitask_valid_shape_file NAME,PATH

:class:`MultiTaskDataMixin` goes before an ESPnet task class in the bases (``class T(MultiTaskDataMixin,
ASRTask)``); its ``super()`` calls reach that task's own ``build_iter_factory``.  The roles come from
``MetaTransferTrainer``'s options (``--source_tasks``, ``--target_task``, ``--multitask_mode``,
``--valid_primary``).  Target utterances must not occur in any source task (§3.1); that is checked on the
data files before training.  Without ``--multitask_train_data`` (and for ``--collect_stats``) the task
behaves exactly like its ESPnet base.
"""

import argparse
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Tuple

from espnet2.iterators.abs_iter_factory import AbsIterFactory
from espnet2.train.distributed_utils import DistributedOption

from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer
from espnet_ext.train.multitask_iter_factory import MultiTaskIterFactory

DataTriple = Tuple[str, str, str]
#: Added to ``--seed`` for a pooled target task's iterator, so its batch order differs from the order of the
#: source task that shares its data (same sampler, same seed would give the same batch every iteration).
POOL_SEED_OFFSET = 1_000_003


def _split_name(value: str, flag: str, parts: int) -> List[str]:
    fields = [f.strip() for f in value.split(",")]
    if len(fields) != parts + 1 or not all(fields):
        raise ValueError(f"{flag} expects NAME,{','.join(['PATH', 'KEY', 'TYPE'][:parts])}, got '{value}'")
    return fields


def _group_data(values: List[str], flag: str) -> Dict[str, List[DataTriple]]:
    out: Dict[str, List[DataTriple]] = {}
    for v in values:
        name, path, key, typ = _split_name(v, flag, 3)
        out.setdefault(name, []).append((path, key, typ))
    return out


def _group_shapes(values: List[str], flag: str) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {}
    for v in values:
        name, path = _split_name(v, flag, 1)
        out.setdefault(name, []).append(path)
    return out


def read_utt_ids(path: str) -> FrozenSet[str]:
    """First column of a Kaldi-style file (wav.scp, text, shape file)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data file '{path}' does not exist")
    with p.open(encoding="utf-8") as f:
        return frozenset(line.split(maxsplit=1)[0] for line in f if line.strip())


def check_pool(target: str, target_ids: FrozenSet[str], pool: str, pool_ids: FrozenSet[str]) -> None:
    """Raise unless the target task draws from the utterances of its pool source task (``--meta_target_pool``)."""
    outside = sorted(target_ids - pool_ids)
    if outside:
        raise ValueError(f"target task '{target}' has {len(outside)} utterance ids outside its pool, source task "
                         f"'{pool}' (e.g. '{outside[0]}'): with --meta_target_pool the target task's data must be "
                         "(a subset of) that source task's")


def check_disjoint(target: str, target_ids: FrozenSet[str], sources: Dict[str, FrozenSet[str]]) -> None:
    """Raise if a source task shares an utterance with the target task (paper §3.1)."""
    for name, ids in sources.items():
        shared = sorted(target_ids & ids)
        if shared:
            raise ValueError(f"target task '{target}' shares {len(shared)} utterance ids with source task "
                             f"'{name}' (e.g. '{shared[0]}'): the code-switching data of D_src and D_tgt must "
                             "be disjoint — split the CS training set into two disjoint parts")


class MultiTaskDataMixin:
    """Adds the per-task data flags and builds one ESPnet iterator per named task (a task-class mixin)."""

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        super().add_task_arguments(parser)
        group = parser.add_argument_group("Multi-task data (one ESPnet iterator per named task)")
        for flag, what in (("multitask_train_data", "NAME,PATH,KEY,TYPE: a training data file of task NAME"),
                           ("multitask_train_shape_file", "NAME,PATH: a training shape file of task NAME"),
                           ("multitask_valid_data", "NAME,PATH,KEY,TYPE: a data file of validation set NAME"),
                           ("multitask_valid_shape_file", "NAME,PATH: a shape file of validation set NAME")):
            group.add_argument(f"--{flag}", type=str, action="append", default=[], help=what)

    @classmethod
    def build_iter_factory(cls, args: argparse.Namespace, distributed_option: DistributedOption, mode: str,
                           kwargs: Optional[dict] = None) -> AbsIterFactory:
        if kwargs is not None or args.collect_stats or not args.multitask_train_data:
            return super().build_iter_factory(args, distributed_option, mode, kwargs)
        if mode == "train":
            return cls._train_factory(args, distributed_option)
        valid = _group_data(args.multitask_valid_data, "--multitask_valid_data")
        if not valid:  # ESPnet's own --valid_data_path_and_name_and_type, reported as the primary set
            return super().build_iter_factory(args, distributed_option, mode, kwargs)
        shapes = _group_shapes(args.multitask_valid_shape_file, "--multitask_valid_shape_file")
        primary = args.valid_primary or args.target_task
        if primary not in valid:
            raise ValueError(f"validation set '{primary}' (--valid_primary, default --target_task) has no "
                             f"--multitask_valid_data; sets given: {sorted(valid)}")
        if mode == "plot_att":
            return super().build_iter_factory(args, distributed_option, mode, cls._kwargs(primary, valid, shapes))
        base = super().build_iter_factory  # zero-argument super() does not work inside the comprehension
        factories = {name: base(args, distributed_option, mode, cls._kwargs(name, valid, shapes)) for name in valid}
        return MultiTaskIterFactory(factories, mode="sequential")

    @staticmethod
    def _kwargs(name: str, data: Dict[str, List[DataTriple]], shapes: Dict[str, List[str]]) -> dict:
        if name not in shapes:
            raise ValueError(f"task '{name}' has data files but no shape file (--multitask_*_shape_file {name},...)")
        return dict(data_path_and_name_and_type=data[name], shape_files=shapes[name])

    @classmethod
    def _train_factory(cls, args: argparse.Namespace, distributed_option: DistributedOption) -> MultiTaskIterFactory:
        data = _group_data(args.multitask_train_data, "--multitask_train_data")
        shapes = _group_shapes(args.multitask_train_shape_file, "--multitask_train_shape_file")
        tasks = MetaTransferTrainer.training_tasks(args)
        if not tasks:
            raise ValueError("name the training tasks with --source_tasks (and --target_task)")
        for t in tasks:
            if t not in data:
                raise ValueError(f"task '{t}' has no --multitask_train_data (tasks with data: {sorted(data)})")
        unused = sorted(set(data) - set(tasks))
        if unused:
            raise ValueError(f"--multitask_train_data names task '{unused[0]}', which is neither in --source_tasks "
                             f"nor --target_task")
        meta = args.multitask_mode == "meta"
        pool = getattr(args, "meta_target_pool", None) if meta else None
        forbidden: FrozenSet[str] = frozenset()
        if meta:
            ids = {t: read_utt_ids(shapes[t][0] if t in shapes else data[t][0][0]) for t in tasks}
            sources = {t: ids[t] for t in tasks if t != args.target_task and t != pool}
            check_disjoint(args.target_task, ids[args.target_task], sources)
            if pool is not None:
                check_pool(args.target_task, ids[args.target_task], pool, ids[pool])
            forbidden = frozenset().union(*sources.values())
        lead = tasks[-1]  # the target task (or the last source in joint mode) sets the epoch length
        lead_args = args
        if pool is not None:
            lead_args = argparse.Namespace(**{**vars(args), "seed": args.seed + POOL_SEED_OFFSET})
        lead_factory = super().build_iter_factory(lead_args, distributed_option, "train",
                                                  cls._kwargs(lead, data, shapes))
        n_iters = args.num_iters_per_epoch
        if n_iters is None:
            sampler = getattr(lead_factory, "sampler", None)
            if sampler is None:
                raise ValueError(f"cannot count the batches of task '{lead}' for this iterator type; "
                                 "set --num_iters_per_epoch")
            n_iters = len(sampler)
        if pool is not None:
            # A target batch equal to the pool source's batch of the same iteration is skipped
            # (MultiTaskIterFactory), so the target iterator gets twice the epoch's batches to draw from;
            # the sources' n_iters still end the epoch.
            kw = dict(cls._kwargs(lead, data, shapes), num_iters_per_epoch=2 * n_iters)
            lead_factory = super().build_iter_factory(lead_args, distributed_option, "train", kw)
        factories = {}
        for t in tasks[:-1]:
            # Every task gets the same epoch length; ESPnet's SequenceIterFactory wraps a smaller task
            # around deterministically from the epoch number, so resume reproduces the batches.
            kw = dict(cls._kwargs(t, data, shapes), num_iters_per_epoch=n_iters)
            factories[t] = super().build_iter_factory(args, distributed_option, "train", kw)
        factories[lead] = lead_factory
        return MultiTaskIterFactory(factories, mode="parallel", guarded_task=args.target_task if meta else None,
                                    forbidden_ids=forbidden, pool_of={args.target_task: pool} if pool else None)
