"""The code-switching LSTM LM (Winata et al., arXiv:2004.14228, §5.4): one meta-transfer / joint step against a
reference computation, the disjointness check, perplexity against a direct computation, a short training
run feeding the Table 4 script, and every conf/lm YAML dry-run."""

import copy
import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import REPO
from tests.lm.tiny_lm import direct_logprob, lm_args, write_lm

TEXTS = {
    "en": ["ab ba", "c ab", "bca", "a b c"],
    "zh": ["我你", "你我我", "我", "你你"],
    "cs_a": ["我 ab", "cab 你", "我 c 你", "b我"],
    "cs_b": ["你 ba", "我ab", "a 你 c", "我 bb"],
}
VALID = {"cs": ["我 ab", "你 c"], "en": ["ab c"]}
META = ["--source_tasks", "en", "zh", "cs_a", "--target_task", "cs_b"]


def _write_text(path: Path, name: str, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}-{i} {t}\n" for i, t in enumerate(lines)), encoding="utf-8")
    return path


def _data_flags(root: Path, sets, split: str, prefixes=None):
    flags = []
    for name, lines in sets.items():
        p = _write_text(root / split / name / "text", (prefixes or {}).get(name, name), lines)
        flags += [f"--multitask_{split}_data", f"{name},{p},text,text", f"--multitask_{split}_shape_file", f"{name},{p}"]
    return flags


def _common(tmp_path, mode, extra=()):
    return ["--multitask_mode", mode, "--batch_type", "unsorted", "--batch_size", "2", "--optim", "sgd",
            "--optim_conf", "lr=0.7", "--grad_clip", "1e6", "--num_workers", "0", *META,
            *_data_flags(tmp_path, TEXTS, "train"), *extra]


def _loss(model, batch):
    return model(**batch)[0]


@pytest.mark.parametrize("mode", ["meta", "joint"])
def test_one_step_matches_reference(tmp_path, mode):
    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.reporter import Reporter

    from espnet_ext.tasks.multitask_lm import MultitaskLMTask
    from espnet_ext.train.meta_transfer_trainer import MetaTransferTrainer

    alpha, beta = 0.3, 0.7
    args = lm_args(tmp_path, _common(tmp_path, mode, ["--meta_inner_lr", str(alpha)]))
    torch.manual_seed(0)
    model = MultitaskLMTask.build_model(args).double()  # float64: compare updates, not round-off
    reference = copy.deepcopy(model)
    item = next(iter(MultitaskLMTask.build_iter_factory(args, DistributedOption(), "train").build_iter(1)))
    reporter = Reporter()
    reporter.set_epoch(1)
    with reporter.observe("train") as sub:
        invalid = MetaTransferTrainer.train_one_epoch(
            model=model, iterator=[item], optimizers=[torch.optim.SGD(model.parameters(), lr=beta)],
            schedulers=[None], scaler=None, reporter=sub, summary_writer=None,
            options=MetaTransferTrainer.build_options(args), distributed_option=DistributedOption())
    assert not invalid

    batches = {name: dict(b, utt_id=ids) for name, (ids, b) in item[1].items()}
    params = list(reference.parameters())
    theta = [p.detach().clone() for p in params]
    outer = [torch.zeros_like(p) for p in params]
    if mode == "meta":  # Algorithm 1, first order: Σ_i ∇L_tgt(θ − α∇L_src_i(θ))
        for src in ("en", "zh", "cs_a"):
            with torch.no_grad():  # every θ'_i starts from θ
                for p, t in zip(params, theta):
                    p.copy_(t)
            grads = torch.autograd.grad(_loss(reference, batches[src]), params)
            with torch.no_grad():
                for p, t, g in zip(params, theta, grads):
                    p.copy_(t - alpha * g)
            for o, g in zip(outer, torch.autograd.grad(_loss(reference, batches["cs_b"]), params)):
                o += g
        with torch.no_grad():
            for p, t in zip(params, theta):
                p.copy_(t)
    else:  # joint: ∇ Σ_t L_t(θ)
        total = sum(_loss(reference, batches[t]) for t in ("en", "zh", "cs_a", "cs_b"))
        outer = list(torch.autograd.grad(total, params))
    with torch.no_grad():
        for p, o in zip(params, outer):
            p -= beta * o
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(got, want, atol=1e-9), (name, float((got - want).abs().max()))
    assert any(not torch.equal(got, t) for got, t in zip(model.parameters(), theta))


def test_meta_rejects_shared_cs_utterances(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    from espnet_ext.tasks.multitask_lm import MultitaskLMTask

    args = lm_args(tmp_path, ["--multitask_mode", "meta", "--batch_type", "unsorted", *META,
                              *_data_flags(tmp_path, TEXTS, "train", prefixes={"cs_b": "cs_a"})])
    with pytest.raises(ValueError, match="disjoint"):
        MultitaskLMTask.build_iter_factory(args, DistributedOption(), "train")


def test_perplexity_matches_direct_computation(tmp_path):
    from espnet2.tasks.lm import LMTask

    from espnet_ext.bin import lm_perplexity

    config, pth, model, tokens = write_lm(tmp_path)
    texts = {"u1": "我 ab", "u2": "", "u3": "c你a"}
    args = lm_args(tmp_path)
    got = lm_perplexity.text_perplexity(model, LMTask.build_preprocess_fn(args, False), texts)
    ids = [[tokens.index("<space>" if c == " " else c) for c in t] for t in texts.values()]
    logp = sum(direct_logprob(model, x) for x in ids)
    assert got == pytest.approx(math.exp(-logp / sum(len(x) + 1 for x in ids)), rel=1e-5)

    for split in ("valid", "test"):
        _write_text(tmp_path / f"{split}.txt", split, texts.values())
    lm_perplexity.main(["--model", f"tiny={config},{pth}", "--valid", str(tmp_path / "valid.txt"),
                        "--test", str(tmp_path / "test.txt"), "--out", str(tmp_path / "table4.md")])
    table = (tmp_path / "table4.md").read_text().splitlines()
    assert table[0] == "| Model | valid | test |" and table[2] == f"| tiny | {got:.2f} | {got:.2f} |"


def test_meta_training_run_and_table(tmp_path):
    from espnet_ext.bin import lm_perplexity
    from espnet_ext.tasks.multitask_lm import MultitaskLMTask

    tokens = tmp_path / "tokens.txt"
    lm_args(tmp_path)  # writes the token list
    out = tmp_path / "exp_meta"
    MultitaskLMTask.main(cmd=[
        "--config", str(REPO / "conf" / "lm" / "train_lm_meta.yaml"), "--output_dir", str(out),
        "--token_list", str(tokens), "--token_type", "char", "--lm_conf", "unit=8", "--max_epoch", "2",
        "--batch_size", "2", "--valid_primary", "cs", "--seed", "1",
        *META, *_data_flags(tmp_path, TEXTS, "train"), *_data_flags(tmp_path, VALID, "valid")])
    saved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert saved["multitask_mode"] == "meta" and saved["lm_conf"]["nlayers"] == 2
    assert (out / "valid.loss.best.pth").exists()
    lm_perplexity.main(["--model", f"meta={out}", "--valid", str(tmp_path / "valid" / "cs" / "text"),
                        "--test", str(tmp_path / "valid" / "en" / "text"), "--out", str(tmp_path / "t4.md")])
    ppl = yaml.safe_load((tmp_path / "t4.json").read_text())["meta"]
    # Close to the trainer's own validation loss on the primary (CS) set: exp(loss) = perplexity.
    stats = torch.load(out / "checkpoint.pth", weights_only=False)["reporter"]["stats"]
    assert 1.0 < ppl["valid"] < len(yaml.safe_load((out / "config.yaml").read_text())["token_list"]) * 2
    assert stats[2]["valid"]["cs_loss"] == pytest.approx(math.log(ppl["valid"]), rel=1e-3)


LM_CONFS = sorted((REPO / "conf" / "lm").glob("*.yaml"))


def test_there_are_lm_confs():
    assert {p.name for p in LM_CONFS} == {"train_lm.yaml", "train_lm_meta.yaml",
                                          "finetune_lm.yaml"}


@pytest.mark.parametrize("conf", LM_CONFS, ids=lambda p: p.name)
def test_lm_yaml_dry_run(conf, tmp_path):
    from espnet2.tasks.lm import LMTask

    from espnet_ext.tasks.multitask_lm import MultitaskLMTask

    lm_args(tmp_path)
    task = LMTask if conf.name.startswith("finetune") else MultitaskLMTask
    roles = [] if task is LMTask else META
    task.main(cmd=["--dry_run", "true", "--iterator_type", "none", "--config", str(conf),
                   "--output_dir", str(tmp_path / "exp"), "--token_list", str(tmp_path / "tokens.txt"),
                   "--token_type", "char", *roles])
    saved = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text(encoding="utf-8"))
    assert saved["lm"] == "seq_rnn" and saved["lm_conf"]["rnn_type"] == "lstm" and saved["lm_conf"]["nlayers"] == 2
    if conf.name.startswith("finetune"):
        assert saved["optim_conf"]["lr"] == 1.0 and saved["scheduler"] == "reducelronplateau"
        assert saved["scheduler_conf"]["factor"] == 0.25 and saved["patience"] == 5
