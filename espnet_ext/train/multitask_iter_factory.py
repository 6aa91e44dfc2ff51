"""One ESPnet iterator per named task, stepped together (training) or one after another (validation).

Meta-transfer learning (Winata et al., arXiv:2004.14228, Algorithm 1 line 3) needs a batch from every source task
and one from the target task in each iteration.  Each task keeps ESPnet's own batching, sharding and
epoch-seeded shuffling (an ``AbsIterFactory`` built by ``AbsTask.build_iter_factory``): all tasks of a
``parallel`` factory are built with the same ``num_iters_per_epoch``, so ``SequenceIterFactory`` wraps the
smaller tasks around deterministically and an epoch is reproducible from its number alone — which is what
ESPnet's resume relies on.  A ``sequential`` factory (validation) runs through each task's set in turn.

The target task's utterances must never appear in a source task (§3.1: "the code-switching data samples
between D_src and D_tgt are disjoint"); the task class checks this once on the data files, and this
iterator re-checks every target batch it yields.  With a *pooled* target (``pool_of``: the target task
and one source task share one CS pool, ``--meta_target_pool``) disjointness holds per iteration instead,
as Algorithm 1 line 3 samples it: D_val is drawn from the whole pool, and a target batch that shares an
utterance with that iteration's batch of the pool source is skipped for the next one.
"""

from typing import Dict, FrozenSet, Iterator, List, Optional, Tuple

from espnet2.iterators.abs_iter_factory import AbsIterFactory

from espnet_ext.train.multitask_batch import MultiTaskBatch

MODES = ("parallel", "sequential")


class MultiTaskIterFactory(AbsIterFactory):
    """Combine per-task ESPnet iterator factories into one iterator of :class:`MultiTaskBatch` items.

    Args:
        factories: task name -> that task's ESPnet iterator factory (insertion order is kept).
        mode: ``parallel`` yields one batch of every task per item and stops when any task runs out;
            ``sequential`` yields one task's batch per item, task after task.
        guarded_task: a task whose batches are checked against ``forbidden_ids`` (the target task).
        forbidden_ids: utterance ids that must never appear in a ``guarded_task`` batch (the sources').
        pool_of: target task -> the source task whose data it shares; the target's batch of an iteration
            never shares an utterance with that source's batch of the same iteration (overlapping target
            batches are skipped, at most ``max_pool_skips`` in a row).
    """

    max_pool_skips = 100

    def __init__(self, factories: Dict[str, AbsIterFactory], mode: str = "parallel",
                 guarded_task: Optional[str] = None, forbidden_ids: Optional[FrozenSet[str]] = None,
                 pool_of: Optional[Dict[str, str]] = None):
        if not factories:
            raise ValueError("MultiTaskIterFactory needs at least one task")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got '{mode}'")
        if guarded_task is not None and guarded_task not in factories:
            raise ValueError(f"guarded_task '{guarded_task}' is not one of the tasks {list(factories)}")
        self.factories = dict(factories)
        self.mode = mode
        self.guarded_task = guarded_task
        self.forbidden_ids = frozenset(forbidden_ids or ())
        self.pool_of = dict(pool_of or {})
        for target, source in self.pool_of.items():
            if target not in factories or source not in factories:
                raise ValueError(f"pool_of {target!r} -> {source!r}: both must be tasks of {list(factories)}")
            if list(factories).index(source) > list(factories).index(target):
                raise ValueError(f"pool_of: source task '{source}' must come before its target '{target}'")

    @property
    def task_names(self) -> List[str]:
        return list(self.factories)

    def _check(self, task: str, utt_ids: List[str]) -> None:
        if task == self.guarded_task and self.forbidden_ids:
            leaked = [u for u in utt_ids if u in self.forbidden_ids]
            if leaked:
                raise RuntimeError(f"a batch of target task '{task}' holds source-task utterance '{leaked[0]}' "
                                   f"({len(leaked)} in this batch): D_src and D_tgt must be disjoint")

    def build_iter(self, epoch: int, shuffle: Optional[bool] = None) -> Iterator[Tuple[List[str], MultiTaskBatch]]:
        iters = {name: f.build_iter(epoch, shuffle) for name, f in self.factories.items()}
        if self.mode == "parallel":
            return self._parallel(iters)
        return self._sequential(iters)

    def _parallel(self, iters) -> Iterator[Tuple[List[str], MultiTaskBatch]]:
        its = {name: iter(it) for name, it in iters.items()}
        while True:
            item = MultiTaskBatch()
            for name, it in its.items():
                try:
                    utt_ids, batch = self._next_disjoint(name, it, item)
                except StopIteration:
                    return
                self._check(name, list(utt_ids))
                item[name] = (list(utt_ids), batch)
            # The leading ids are the last task's (the target task when the task class orders them so).
            yield item[name][0], item

    def _next_disjoint(self, name: str, it, item: MultiTaskBatch):
        """The next batch of task ``name``; for a pooled target, the next one disjoint from its source's."""
        utt_ids, batch = next(it)
        source = self.pool_of.get(name)
        if source is None:
            return utt_ids, batch
        taken = set(item[source][0])
        for _ in range(self.max_pool_skips):
            if not taken.intersection(utt_ids):
                return utt_ids, batch
            utt_ids, batch = next(it)
        raise RuntimeError(f"target task '{name}': {self.max_pool_skips} batches in a row overlapped source task "
                           f"'{source}''s batch; the pool is too small for its batch size")

    def _sequential(self, iters) -> Iterator[Tuple[List[str], MultiTaskBatch]]:
        for name, it in iters.items():
            for utt_ids, batch in it:
                self._check(name, list(utt_ids))
                yield list(utt_ids), MultiTaskBatch({name: (list(utt_ids), batch)})
