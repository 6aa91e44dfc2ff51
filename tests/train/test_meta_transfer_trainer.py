"""MetaTransferTrainer: the first-order update of Algorithm 1 against a hand-written reference, the
joint-training step, the target/source disjointness, resume and 2-process DDP."""

import copy
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO
from tests.train.tiny_multitask import parse_args, write_setup

TRAIN = {"en": 4, "cs_a": 4, "cs_b": 4}
VALID = {"cs": 2, "en": 2}
# Some gradients are exactly zero in theory (attention key biases) and round-off noise in practice; Adam's
# default eps would turn that noise into full ±lr steps, so both sides use a larger eps.
ADAM_EPS = 1e-3
ROLES = ["--source_tasks", "en", "cs_a", "--target_task", "cs_b", "--valid_primary", "cs"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtl")
    return root, write_setup(root, TRAIN, VALID)


def _one_step(setup, extra):
    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.reporter import Reporter

    from espnet_ext.tasks.multitask_asr import MultitaskASRTask
    from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

    root, config = setup
    args = parse_args(config, root / "exp", ROLES + extra)
    torch.manual_seed(0)
    model = MultitaskASRTask.build_model(args)
    reference = copy.deepcopy(model)
    item = next(iter(MultitaskASRTask.build_iter_factory(args, DistributedOption(), "train").build_iter(1)))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, eps=ADAM_EPS)
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("train") as sub:
        invalid = MetaTransferTrainer.train_one_epoch(
            model=model, iterator=[item], optimizers=[optimizer], schedulers=[None], scaler=None, reporter=sub,
            summary_writer=None, options=MetaTransferTrainer.build_options(args), distributed_option=DistributedOption())
    assert not invalid
    batches = {name: dict(b, utt_id=ids) for name, (ids, b) in item[1].items()}
    return model, reference, batches


def _loss(model, batch):
    return model(**batch)[0].sum()


def _reference_meta_step(reference, batches, alpha: float, public_code: bool) -> None:
    """One meta step by hand, applied to ``reference`` with Adam(β = 0.01).

    Algorithm 1: θ'_i = θ − α∇L_src_i(θ); g = Σ_i ∇L_tgt(θ'_i).  The authors' released trainer (``public_code``)
    adds per task ∇L_src_i(θ) (its inner gradient, never zeroed) and scales the target term by 1/n."""
    sources = ("en", "cs_a")
    outer = [torch.zeros_like(p) for p in reference.parameters()]
    for src in sources:
        adapted = copy.deepcopy(reference)
        adapted.zero_grad()
        _loss(adapted, batches[src]).backward()
        with torch.no_grad():
            for o, p in zip(outer, adapted.parameters()):
                if p.grad is not None:
                    if public_code:
                        o += p.grad
                    p -= alpha * p.grad
        adapted.zero_grad()
        (_loss(adapted, batches["cs_b"]) / (len(sources) if public_code else 1)).backward()
        for o, p in zip(outer, adapted.parameters()):
            if p.grad is not None:
                o += p.grad
    for p, g in zip(reference.parameters(), outer):
        p.grad = g
    torch.optim.Adam(reference.parameters(), lr=0.01, eps=ADAM_EPS).step()


def _assert_same_parameters(model, reference) -> None:
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_meta_step_equals_first_order_reference(setup):
    alpha = 0.05
    model, reference, batches = _one_step(setup, ["--meta_inner_lr", str(alpha)])
    _reference_meta_step(reference, batches, alpha, public_code=False)
    _assert_same_parameters(model, reference)
    moved = [not torch.allclose(p, q) for p, q in zip(model.parameters(), _initial(setup).parameters())]
    assert sum(moved) > len(moved) // 2


def test_public_code_outer_gradient_adds_source_gradients_at_theta(setup):
    alpha = 0.05
    model, reference, batches = _one_step(setup, ["--meta_inner_lr", str(alpha), "--meta_outer_grad", "public_code"])
    _reference_meta_step(reference, batches, alpha, public_code=True)
    _assert_same_parameters(model, reference)
    # ... and it is not Algorithm 1's step.
    algorithm1, _, _ = _one_step(setup, ["--meta_inner_lr", str(alpha)])
    assert not all(torch.allclose(p, q) for p, q in zip(model.parameters(), algorithm1.parameters()))


def _initial(setup):
    from espnet_ext.tasks.multitask_asr import MultitaskASRTask

    root, config = setup
    torch.manual_seed(0)
    return MultitaskASRTask.build_model(parse_args(config, root / "exp", ROLES))


def test_joint_step_equals_summed_loss_reference(setup):
    model, reference, batches = _one_step(setup, ["--multitask_mode", "joint"])
    reference.zero_grad()
    sum(_loss(reference, batches[t]) for t in ("en", "cs_a", "cs_b")).backward()
    torch.optim.Adam(reference.parameters(), lr=0.01, eps=ADAM_EPS).step()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_target_batches_never_come_from_source(setup, tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    from espnet_ext.tasks.multitask_asr import MultitaskASRTask, read_utt_ids

    root, config = setup
    args = parse_args(config, root / "exp", ROLES + ["--num_iters_per_epoch", "7"])
    factory = MultitaskASRTask.build_iter_factory(args, DistributedOption(), "train")
    source_ids = read_utt_ids(str(root / "train" / "en" / "shape")) | read_utt_ids(str(root / "train" / "cs_a" / "shape"))
    target_ids = read_utt_ids(str(root / "train" / "cs_b" / "shape"))
    for epoch in (1, 2):
        items = list(factory.build_iter(epoch))
        assert len(items) == 7
        for lead_ids, batch in items:
            assert set(batch) == {"en", "cs_a", "cs_b"}
            assert lead_ids == batch["cs_b"][0]
            assert set(batch["cs_b"][0]) <= target_ids and not set(batch["cs_b"][0]) & source_ids

    # A target task overlapping a source task is refused before training, naming both and an utterance.
    shutil_shape = (root / "train" / "cs_b" / "shape").read_text()
    overlap = tmp_path / "shape"
    overlap.write_text(shutil_shape + (root / "train" / "cs_a" / "shape").read_text().splitlines()[0] + "\n")
    bad = parse_args(config, root / "exp", ROLES)
    bad.multitask_train_shape_file = [s for s in bad.multitask_train_shape_file if not s.startswith("cs_b,")]
    bad.multitask_train_shape_file.append(f"cs_b,{overlap}")
    with pytest.raises(ValueError, match=r"target task 'cs_b' shares 1 utterance ids with source task 'cs_a' \(e\.g\. 'cs_a-000'\)"):
        MultitaskASRTask.build_iter_factory(bad, DistributedOption(), "train")

    # The iterator re-checks every target batch it yields.
    from espnet_ext.train.multitask_iter_factory import MultiTaskIterFactory

    guarded = MultiTaskIterFactory(factory.factories, guarded_task="cs_b", forbidden_ids=frozenset({"cs_b-001"}))
    with pytest.raises(RuntimeError, match="holds source-task utterance 'cs_b-001'"):
        list(guarded.build_iter(1))


def test_meta_mode_option_errors(setup):
    from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

    root, config = setup
    with pytest.raises(ValueError, match="--target_task 'en' is also in --source_tasks"):
        MetaTransferTrainer.build_options(parse_args(config, root / "exp", ["--source_tasks", "en", "--target_task", "en"]))
    with pytest.raises(ValueError, match="needs --target_task"):
        MetaTransferTrainer.build_options(parse_args(config, root / "exp", ["--source_tasks", "en"]))
    with pytest.raises(SystemExit):  # argparse names the choices on stderr
        parse_args(config, root / "exp", ROLES + ["--meta_outer_grad", "second_order"])


@pytest.mark.slow
def test_resume_continues_identically(setup):
    from espnet_ext.tasks.multitask_asr import MultitaskASRTask

    root, config = setup
    common = ["--config", str(config)] + ROLES + ["--num_iters_per_epoch", "2"]
    MultitaskASRTask.main(cmd=common + ["--output_dir", str(root / "straight"), "--max_epoch", "2"])
    MultitaskASRTask.main(cmd=common + ["--output_dir", str(root / "resumed"), "--max_epoch", "1"])
    MultitaskASRTask.main(cmd=common + ["--output_dir", str(root / "resumed"), "--max_epoch", "2", "--resume", "true"])
    a = torch.load(root / "straight" / "2epoch.pth")
    b = torch.load(root / "resumed" / "2epoch.pth")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    # Validation is reported per set, the primary (CS) one also as plain valid.loss.
    stats = torch.load(root / "straight" / "checkpoint.pth", weights_only=False)["reporter"]["stats"][2]["valid"]
    assert {"loss", "cs_loss", "en_loss"} <= set(stats) and stats["loss"] == stats["cs_loss"]


@pytest.mark.slow
def test_ddp_two_processes_keep_parameters_identical(setup):
    root, _ = setup
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, "-m", "tests.train.ddp_worker", str(r), "2", str(port), str(root)],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for r in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out.decode()[-3000:]
    r0, r1 = (torch.load(root / f"rank{r}.pt") for r in range(2))
    assert r0["steps"] == r1["steps"] == 1  # rank 1 had one batch fewer: both stop after its last one
    initial = list(_initial(setup).parameters())
    for p, q, i in zip(r0["params"], r1["params"], initial):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert any(not torch.allclose(p, i) for p, i in zip(r0["params"], initial))
