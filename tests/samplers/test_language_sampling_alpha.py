"""Temperature sampling over languages in the balanced sampler (issue 21): p_l ∝ n_l^alpha.

alpha = 0 must give today's BS batches bit for bit; the shares over many batches must match p_l; a bad alpha
is a config error naming the option; the option travels from YAML / command line into config.yaml."""

import collections
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from espnet_ext.samplers.language_balanced_batch_sampler import LanguageBalancedBatchSampler, systematic_counts
from tests.conftest import REPO
from tests.samplers.test_language_balanced_batch_sampler import LANGS, _task_args, lang_of, write_utt2lang

LONG_TAIL = {"en": 1000, "fr": 100, "zh": 10}  # very unequal sizes


@pytest.fixture
def utt2lang(tmp_path):
    return write_utt2lang(tmp_path / "utt2lang")  # en 10, fr 4, zh 1, sv none


@pytest.fixture
def long_tail(tmp_path):
    return write_utt2lang(tmp_path / "utt2lang_long_tail", LONG_TAIL)


def expected_shares(alpha: float):
    """p_l ∝ n_l^alpha by hand, in LONG_TAIL's order."""
    weights = [n ** alpha for n in LONG_TAIL.values()]
    return [w / sum(weights) for w in weights]


# ------------------------------------------------------------------------------------------ alpha = 0
# Batches written by the sampler before the option existed (commit b6304b9), for utt2lang en 10 / fr 4 / zh 1.
TODAY = {
    "mixed": (dict(per_language=1, seed=0), 2,
              [("en-005", "fr-003", "zh-000"), ("en-009", "fr-001", "zh-000"), ("en-000", "fr-002", "zh-000"),
               ("en-008", "fr-001", "zh-000"), ("en-001", "fr-000", "zh-000")]),
    "grouped": (dict(per_language=1, layout="grouped", accum_grad=3, seed=0, epoch="min"), 2,
                [("zh-000",), ("fr-000",), ("en-006",)]),
    "ddp_rank1": (dict(per_language=2, seed=5, rank=1, world_size=2), 8,
                  [("en-004", "fr-003", "zh-000"), ("en-003", "fr-001", "zh-000"), ("en-002", "fr-001", "zh-000")]),
}


@pytest.mark.parametrize("case", sorted(TODAY))
def test_alpha_zero_is_todays_balanced_sampling_bit_for_bit(utt2lang, case):
    kwargs, seed, batches = TODAY[case]
    absent = LanguageBalancedBatchSampler(utt2lang, LANGS, **kwargs)
    zero = LanguageBalancedBatchSampler(utt2lang, LANGS, alpha=0.0, **kwargs)
    assert zero.generate(seed) == absent.generate(seed) == batches
    for epoch in range(-1, 5):  # ESPnet asks for epochs 0 and -1 with num_iters_per_epoch
        assert zero.generate(kwargs["seed"] + epoch) == absent.generate(kwargs["seed"] + epoch)


# ------------------------------------------------------------------------------------------ proportions
@pytest.mark.parametrize("layout", ["mixed", "grouped"])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_language_shares_over_many_batches_follow_n_to_the_alpha(long_tail, layout, alpha):
    s = LanguageBalancedBatchSampler(long_tail, list(LONG_TAIL), per_language=2, layout=layout, alpha=alpha,
                                     accum_grad=3 if layout == "grouped" else 1)
    epochs = 12
    batches = [b for e in range(1, epochs + 1) for b in s.generate(s.seed + e)]
    units = s.units * epochs
    # Units dealt: mixed batches of 6 one-utterance slots, grouped cycles of 3 two-utterance batches.
    slots = 6 if layout == "mixed" else 3
    if layout == "mixed":
        drawn = collections.Counter(lang_of(u) for b in batches for u in b)
    else:
        drawn = collections.Counter(lang_of(b[0]) for b in batches)  # one language per batch
    assert sum(drawn.values()) == units * slots
    for lang, p in zip(LONG_TAIL, expected_shares(alpha)):
        # A unit gives the language floor(S p) + Bernoulli(f) slots, f = frac(S p), independently per unit:
        # its share over U units has standard deviation sqrt(U f (1 - f)) / (U S).  5 sigma, ~1e-6 false alarms.
        f = slots * p - math.floor(slots * p)
        tol = 5 * math.sqrt(units * f * (1 - f)) / (units * slots) + 1e-12
        assert drawn[lang] / (units * slots) == pytest.approx(p, abs=tol), (lang, drawn)
    if alpha == 0.5:  # the tail really is oversampled against SMT (1 %) and the head against BS (1/3)
        assert 0.06 < drawn["zh"] / (units * slots) < 0.08 and 0.69 < drawn["en"] / (units * slots) < 0.72


def test_mixed_batches_hold_floor_or_ceil_of_the_expected_count(long_tail):
    s = LanguageBalancedBatchSampler(long_tail, list(LONG_TAIL), per_language=2, alpha=0.5)
    expected = [6 * p for p in expected_shares(0.5)]  # 4.24, 1.34, 0.42 utterances per batch
    for batch in s.generate(s.seed + 1):
        counts = collections.Counter(map(lang_of, batch))
        assert len(batch) == 6
        for lang, e in zip(LONG_TAIL, expected):
            assert counts[lang] in (math.floor(e), math.ceil(e)), (batch, lang, e)


def test_systematic_counts_by_hand():
    shares = np.array([0.5, 0.3, 0.2])  # 5 slots: 2.5, 1.5, 1.0; edges 0, 2.5, 4, 5
    assert systematic_counts(shares, 5, np.array([0.1, 0.4, 0.6, 0.99])).tolist() == \
        [[3, 1, 1], [3, 1, 1], [2, 2, 1], [2, 2, 1]]


# ------------------------------------------------------------------------------------------ streams, DDP, epochs
def test_tempered_streams_continue_across_epochs_in_any_call_order(long_tail):
    def sampler():
        return LanguageBalancedBatchSampler(long_tail, list(LONG_TAIL), per_language=2, alpha=0.5, seed=4)

    in_order, shuffled = sampler(), sampler()
    epochs = [-1, 0, 1, 2, 3]
    first = {e: in_order.generate(4 + e) for e in epochs}
    assert {e: shuffled.generate(4 + e) for e in [3, -1, 2, 0, 1]} == first  # resume-safe, cache-order free
    assert first[1] != first[2]
    en = [[u for b in first[e] for u in b if lang_of(u) == "en"] for e in epochs]
    after = en[2] + en[3] + en[4]  # from stream position 0: one full pass before any repeat
    assert len(after) > 1000 and len(set(after[:1000])) == 1000
    before = en[0] + en[1]  # epochs -1 and 0 end at stream position 0: the last 1000 are one whole pass
    assert len(before) > 1000 and len(set(before[-1000:])) == 1000


@pytest.mark.parametrize("layout", ["mixed", "grouped"])
def test_tempered_ddp_shards_are_disjoint_and_equally_composed(long_tail, layout):
    kwargs = dict(per_language=2, alpha=0.5, layout=layout, seed=1, accum_grad=3 if layout == "grouped" else 1)
    ranks = [LanguageBalancedBatchSampler(long_tail, list(LONG_TAIL), rank=r, world_size=2, **kwargs)
             for r in range(2)]
    a, b = (s.generate(2) for s in ranks)
    assert len(a) == len(b) == len(ranks[0])
    for x, y in zip(a, b):
        assert collections.Counter(map(lang_of, x)) == collections.Counter(map(lang_of, y))
        assert len(x) == (3 if layout == "mixed" else 1) and not set(x) & set(y)


def test_tempered_epoch_definitions(long_tail):
    def units(epoch, alpha):
        return len(LanguageBalancedBatchSampler(long_tail, list(LONG_TAIL), per_language=2, epoch=epoch,
                                                alpha=alpha))

    corpus = math.ceil(1110 / 6)
    assert units("corpus", 0.5) == corpus
    assert units("max", 1.0) == units("min", 1.0) == corpus  # SMT proportions: every language once per corpus
    p_en, _, p_zh = expected_shares(0.5)
    assert units("max", 0.5) == math.ceil(1000 / (6 * p_en)) == 237
    assert units("min", 0.5) == math.ceil(10 / (6 * p_zh)) == 24


def test_tempered_batches_depend_on_seed_and_epoch_only(long_tail):
    def batches(seed, epoch):
        s = LanguageBalancedBatchSampler(long_tail, list(LONG_TAIL), per_language=2, alpha=0.5, seed=seed)
        return s.generate(seed + epoch)

    assert batches(7, 3) == batches(7, 3)
    assert batches(7, 3) != batches(7, 4) and batches(7, 3) != batches(8, 3)


# ------------------------------------------------------------------------------------------ config errors
@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_alpha_is_a_config_error_naming_option_and_value(utt2lang, alpha):
    with pytest.raises(ValueError, match=r"lang_balanced_alpha must be a number in \[0, 1\] .*got " +
                       repr(alpha).replace(".", r"\.")):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=1, alpha=alpha)


def test_bad_alpha_on_the_command_line_or_in_yaml(tmp_path, capsys):
    from espnet_ext.tasks.asr import MultilingualASRTask

    with pytest.raises(SystemExit):
        MultilingualASRTask.get_parser().parse_args(["--lang_balanced_alpha", "1.5"])
    assert "argument --lang_balanced_alpha: must be a number in [0, 1], got '1.5'" in capsys.readouterr().err
    conf = tmp_path / "conf.yaml"
    conf.write_text("lang_balanced_per_language: 1\nlang_balanced_alpha: -0.5\n")
    args = MultilingualASRTask.get_parser().parse_args(["--config", str(conf)])  # YAML numbers skip the type
    with pytest.raises(ValueError, match=r"lang_balanced_alpha must be a number in \[0, 1\].*got -0\.5"):
        MultilingualASRTask.check_sampling_args(args)


def test_alpha_without_balanced_sampling_is_an_error(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    task, args = _task_args(tmp_path, ["--lang_balanced_alpha", "0.5"])
    with pytest.raises(ValueError, match=r"lang_balanced_alpha \(0\.5\) needs lang_balanced_per_language"):
        task.build_iter_factory(args, DistributedOption(distributed=False), "train")


# ------------------------------------------------------------------------------------------ task wiring
def test_task_alpha_zero_and_absent_give_the_same_training_batches(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    def keys(sub, extra):
        (tmp_path / sub).mkdir()
        task, args = _task_args(tmp_path / sub, ["--lang_balanced_per_language", "2"] + extra)
        factory = task.build_iter_factory(args, DistributedOption(distributed=False), "train")
        return [list(k) for epoch in (1, 2) for k, _ in factory.build_iter(epoch)], args

    absent, args = keys("absent", [])
    assert args.lang_balanced_alpha == 0.0
    assert keys("zero", ["--lang_balanced_alpha", "0"])[0] == absent
    tempered, args = keys("half", ["--lang_balanced_alpha", "0.5"])
    assert args.lang_balanced_alpha == 0.5 and tempered != absent
    assert all(len(b) == 6 for b in tempered)  # batch size unchanged: 2 per language x 3 languages


def test_temp_conf_records_alpha_in_config_yaml(tmp_path):
    from espnet_ext.tasks.asr import MultilingualASRTask

    conf = REPO / "conf/tuning/train_a2_bs_dual_adapters_adjust_train_temp0.5_cpu.yaml"
    base = yaml.safe_load((REPO / "conf/tuning/train_a2_bs_dual_adapters_adjust_train_cpu.yaml").read_text())
    variant = yaml.safe_load(conf.read_text())
    assert variant.pop("lang_balanced_alpha") == 0.5 and variant == base  # the one documented difference
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("<blank>\n<unk>\na\nb\n<sos/eos>\n")
    out = tmp_path / "exp"
    MultilingualASRTask.main(cmd=[
        "--dry_run", "true", "--iterator_type", "none", "--config", str(conf), "--output_dir", str(out),
        "--token_list", str(tokens), "--token_type", "char", "--input_size", "80",
        "--model_conf", "languages=[en,fr,zh]", "--lang_balanced_alpha", "0.25"])  # the command line wins
    assert yaml.safe_load((out / "config.yaml").read_text())["lang_balanced_alpha"] == 0.25
