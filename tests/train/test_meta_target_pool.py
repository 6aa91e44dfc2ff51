"""Meta-transfer with a pooled target (``--meta_target_pool``): D_val is drawn each iteration from the whole
CS pool, never overlapping that iteration's CS source batch (Algorithm 1 line 3)."""

import pytest
import torch

from tests.train.tiny_multitask import parse_args, write_setup

TRAIN = {"en": 4, "cs": 12}
VALID = {"cs": 2}
POOL_ROLES = ["--multitask_mode", "meta", "--source_tasks", "en", "cs", "--target_task", "cs_val",
              "--meta_target_pool", "cs", "--valid_primary", "cs"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    return root, write_setup(root, TRAIN, VALID)


def _pool_args(setup, extra=(), target_shape=None):
    root, config = setup
    args = parse_args(config, root / "exp", POOL_ROLES + list(extra))
    cs = root / "train" / "cs"
    # The target task reads the CS pool's own files, as the recipe passes cs_train for both.
    args.multitask_train_data += [f"cs_val,{cs / 'feats.scp'},speech,npy", f"cs_val,{cs / 'text'},text,text"]
    args.multitask_train_shape_file.append(f"cs_val,{target_shape or cs / 'shape'}")
    return args


def _items(setup, epochs, n_iters):
    from espnet2.train.distributed_utils import DistributedOption

    from espnet_ext.tasks.multitask_asr import MultitaskASRTask

    args = _pool_args(setup, ["--num_iters_per_epoch", str(n_iters)])
    factory = MultitaskASRTask.build_iter_factory(args, DistributedOption(), "train")
    return [item for epoch in epochs for item in factory.build_iter(epoch)]


def test_pooled_target_is_disjoint_per_iteration_and_covers_the_pool(setup):
    items = _items(setup, (1, 2, 3), n_iters=10)
    assert len(items) == 30  # the sources' epoch length holds although overlapping target batches are skipped
    pool = {f"cs-{i:03d}" for i in range(12)}
    seen_target, overlaps_possible = set(), 0
    for lead_ids, batch in items:
        assert set(batch) == {"en", "cs", "cs_val"}
        assert lead_ids == batch["cs_val"][0]
        source, target = set(batch["cs"][0]), set(batch["cs_val"][0])
        assert target <= pool and not source & target
        seen_target |= target
    # D_val comes from the whole pool, not a fixed split: every CS utterance serves as target at some point.
    assert seen_target == pool
    # And the CS source batches cover the same pool (the pool is also a source task).
    assert set().union(*(set(b["cs"][0]) for _, b in items)) == pool


def test_pooled_target_skips_the_source_batch_when_both_orders_agree():
    """With identical batch orders every target batch would equal its source batch: each one is skipped."""
    from espnet_ext.train.multitask_iter_factory import MultiTaskIterFactory

    class Fixed:
        def __init__(self, batches):
            self.batches = batches

        def build_iter(self, epoch, shuffle=None):
            return iter([(ids, {"x": ids}) for ids in self.batches])

    batches = [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]
    factory = MultiTaskIterFactory({"cs": Fixed(batches), "cs_val": Fixed(batches[1:] + batches[:1] + batches)},
                                   pool_of={"cs_val": "cs"})
    pairs = [(b["cs"][0], b["cs_val"][0]) for _, b in factory.build_iter(1)]
    assert pairs == [(["a", "b"], ["c", "d"]), (["c", "d"], ["e", "f"]), (["e", "f"], ["g", "h"]),
                     (["g", "h"], ["a", "b"])]
    # A pool that is one batch: every target batch overlaps, and the iterator says so instead of looping.
    same = MultiTaskIterFactory({"cs": Fixed([["a", "b"]] * 2), "cs_val": Fixed([["b", "a"]] * 10)},
                                pool_of={"cs_val": "cs"})
    same.max_pool_skips = 3
    with pytest.raises(RuntimeError, match="3 batches in a row overlapped source task 'cs'"):
        list(same.build_iter(1))


def test_pool_option_errors(setup, tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    from espnet_ext.tasks.multitask_asr import MultitaskASRTask
    from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

    root, config = setup
    with pytest.raises(ValueError, match="--meta_target_pool 'zh' must be one of --source_tasks"):
        MetaTransferTrainer.build_options(parse_args(config, root / "exp", POOL_ROLES[:-4] + [
            "--meta_target_pool", "zh"]))
    with pytest.raises(ValueError, match="--meta_target_pool applies to --multitask_mode meta only"):
        MetaTransferTrainer.build_options(parse_args(config, root / "exp", [
            "--multitask_mode", "joint", "--source_tasks", "en", "cs", "--meta_target_pool", "cs"]))
    # A target utterance outside the pool is refused before training, naming it.
    shape = tmp_path / "shape"
    shape.write_text((root / "train" / "cs" / "shape").read_text() + (root / "train" / "en" / "shape").read_text())
    with pytest.raises(ValueError, match=r"target task 'cs_val' shares 4 utterance ids with source task 'en'"):
        MultitaskASRTask.build_iter_factory(_pool_args(setup, target_shape=shape), DistributedOption(), "train")


def test_pooled_meta_step_trains(setup):
    """One meta-transfer epoch with a pooled target runs the trainer and changes the parameters."""
    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.reporter import Reporter

    from espnet_ext.tasks.multitask_asr import MultitaskASRTask
    from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

    args = _pool_args(setup, ["--num_iters_per_epoch", "3", "--meta_inner_lr", "0.05"])
    torch.manual_seed(0)
    model = MultitaskASRTask.build_model(args)
    before = [p.detach().clone() for p in model.parameters()]
    iterator = MultitaskASRTask.build_iter_factory(args, DistributedOption(), "train").build_iter(1)
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("train") as sub:
        invalid = MetaTransferTrainer.train_one_epoch(
            model=model, iterator=iterator, optimizers=[torch.optim.Adam(model.parameters(), lr=0.01)],
            schedulers=[None], scaler=None, reporter=sub, summary_writer=None,
            options=MetaTransferTrainer.build_options(args), distributed_option=DistributedOption())
    assert not invalid
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert reporter.get_value("train", "cs_val_loss") > 0  # the target loss at θ'_i is reported per task
