"""The alpha schedule of the balanced sampler (issue 21): alpha from balanced to natural proportions over training.

alpha(e) by hand for linear / cosine; epoch 1 and the last epoch follow p_l ∝ n_l^alpha of their own alpha;
``constant`` gives today's batches bit for bit; a resumed run (fresh sampler) gives the batches of a run from
epoch 1; bad combinations are config errors naming the option and value; the task takes the options."""

import collections
import hashlib
import logging
import math

import pytest
import yaml

from espnet_ext.samplers.alpha_schedule import AlphaSchedule
from espnet_ext.samplers.language_balanced_batch_sampler import LanguageBalancedBatchSampler
from tests.conftest import REPO
from tests.samplers.test_language_balanced_batch_sampler import LANGS, _task_args, lang_of, write_utt2lang

LONG_TAIL = {"en": 1000, "fr": 100, "zh": 10}
LARGE_TAIL = {"en": 6000, "fr": 600, "zh": 60}  # 1110 mixed batches of 2 x 3 per epoch: tight proportions


@pytest.fixture
def long_tail(tmp_path):
    return write_utt2lang(tmp_path / "utt2lang_long_tail", LONG_TAIL)


def sampler(path, counts=LONG_TAIL, **kwargs):
    return LanguageBalancedBatchSampler(path, list(counts), **{"per_language": 2, **kwargs})


def epochs_of(s, epochs):
    return {e: s.generate(s.seed + e) for e in epochs}


# ------------------------------------------------------------------------------------------ alpha(e)
def test_linear_and_cosine_alpha_of_every_epoch():
    linear = AlphaSchedule(0.0, 1.0, "linear", max_epoch=5)
    cosine = AlphaSchedule(0.0, 1.0, "cosine", max_epoch=5)
    assert [linear(e) for e in range(1, 6)] == [0.0, 0.25, 0.5, 0.75, 1.0]  # t = (e - 1) / 4
    assert cosine(1) == 0.0 and cosine(5) == 1.0  # first and last epoch exactly
    assert cosine(3) == pytest.approx(0.5, abs=1e-15)  # middle: (1 - cos(pi / 2)) / 2
    assert cosine(2) == pytest.approx((1 - math.sqrt(0.5)) / 2, abs=1e-15)  # 0.1464: slow start
    assert cosine(4) == pytest.approx((1 + math.sqrt(0.5)) / 2, abs=1e-15)  # 0.8536: slow end
    # Any start / end, either direction: (1 - t) a + t b, exactly a and b at the ends.
    down = AlphaSchedule(0.9, 0.3, "linear", max_epoch=3)
    assert (down(1), down(3)) == (0.9, 0.3) and down(2) == pytest.approx(0.6, abs=1e-15)
    # Outside the training epochs (ESPnet's epochs 0 / -1, a run resumed past max_epoch): clamped.
    assert linear(0) == linear(-1) == 0.0 and linear(6) == linear(40) == 1.0
    assert [AlphaSchedule(0.5)(e) for e in (-1, 1, 12, 100)] == [0.5] * 4  # constant


def test_the_sampler_schedule_runs_from_epoch_1_to_max_epoch(long_tail):
    s = sampler(long_tail, alpha=0.0, alpha_end=1.0, alpha_schedule="linear", max_epoch=12)
    assert s.schedule.epochs == (1, 12)
    assert [round(s.schedule(e), 4) for e in (1, 2, 12)] == [0.0, round(1 / 11, 4), 1.0]
    assert s.shares_at(1).tolist() == pytest.approx([1 / 3] * 3)
    assert s.shares_at(12).tolist() == pytest.approx([n / 1110 for n in LONG_TAIL.values()])
    assert "alpha_schedule=linear 0 -> 1 over epochs 1..12" in repr(s)


# ------------------------------------------------------------------------------------------ proportions
def expected_shares(alpha, counts):
    weights = [n ** alpha for n in counts.values()]
    return [w / sum(weights) for w in weights]


@pytest.mark.parametrize("start,end,shape", [(0.0, 1.0, "linear"), (0.5, 0.0, "cosine"), (0.2, 0.8, "cosine")])
def test_first_and_last_epoch_follow_their_own_alpha(tmp_path, start, end, shape):
    path = write_utt2lang(tmp_path / "utt2lang", LARGE_TAIL)
    max_epoch = 4
    s = sampler(path, LARGE_TAIL, alpha=start, alpha_end=end, alpha_schedule=shape, max_epoch=max_epoch)
    units, slots = len(s), 6  # mixed batches of 6 one-utterance slots
    for epoch, alpha in ((1, start), (max_epoch, end)):
        drawn = collections.Counter(lang_of(u) for b in s.generate(s.seed + epoch) for u in b)
        assert sum(drawn.values()) == units * slots == 1110 * 6
        for lang, p in zip(LARGE_TAIL, expected_shares(alpha, LARGE_TAIL)):
            # A batch gives the language floor(S p) + Bernoulli(f) slots, f = frac(S p), independently per batch:
            # its share over U batches has standard deviation sqrt(U f (1 - f)) / (U S), e.g. 0.0025 for en at
            # alpha 1 (S p = 5.405).  5 sigma: ~1e-6 false alarms; alpha 0 is exact (S p = 2, f = 0).
            f = slots * p - math.floor(slots * p)
            tol = 5 * math.sqrt(units * f * (1 - f)) / (units * slots) + 1e-12
            assert drawn[lang] / (units * slots) == pytest.approx(p, abs=tol), (epoch, lang, drawn)
    if (start, end) == (0.0, 1.0):  # the head really gets its natural share at the end, the tail its 1/3 at first
        first = collections.Counter(lang_of(u) for b in s.generate(s.seed + 1) for u in b)
        last = collections.Counter(lang_of(u) for b in s.generate(s.seed + max_epoch) for u in b)
        assert first == {"en": 2220, "fr": 2220, "zh": 2220} and 0.89 < last["en"] / 6660 < 0.91


# ------------------------------------------------------------------------------------------ constant = today
# sha256 (first 16 hex digits) of repr([generate(seed + e) for e in -1 .. 6]), written by the sampler before the
# schedule existed (commit 7097843), on LONG_TAIL.
TODAY = {
    "mixed_a0": (dict(seed=3), "d6b43f1a4a11dff0"),
    "mixed_a0.5": (dict(seed=3, alpha=0.5), "13aa825c9719d655"),
    "grouped_a0": (dict(seed=1, layout="grouped", accum_grad=3), "879d0d0a3bc09a91"),
    "grouped_a0.5": (dict(seed=1, layout="grouped", accum_grad=3, alpha=0.5), "8c4a7f73d6ea2a9a"),
    "ddp1_a0.7": (dict(seed=5, rank=1, world_size=2, alpha=0.7), "d3759058ccb99802"),
    "min_a1": (dict(seed=0, epoch="min", alpha=1.0), "88bb65e7fc7dbfba"),
}


def digest(s) -> str:
    return hashlib.sha256(repr([s.generate(s.seed + e) for e in range(-1, 7)]).encode()).hexdigest()[:16]


@pytest.mark.parametrize("case", sorted(TODAY))
def test_constant_schedule_is_todays_sampler_bit_for_bit(long_tail, case):
    kwargs, recorded = TODAY[case]
    assert digest(sampler(long_tail, **kwargs)) == recorded
    assert digest(sampler(long_tail, alpha_schedule="constant", max_epoch=12, **kwargs)) == recorded
    assert digest(sampler(long_tail, alpha_schedule="constant", **kwargs)) == recorded  # needs no max_epoch


# ------------------------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("layout", ["mixed", "grouped"])
@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_resuming_at_epoch_k_gives_the_batches_of_a_run_from_epoch_1(long_tail, layout, shape):
    def fresh():
        return sampler(long_tail, layout=layout, accum_grad=3 if layout == "grouped" else 1, seed=4,
                       alpha=0.0, alpha_end=1.0, alpha_schedule=shape, max_epoch=6)

    run = epochs_of(fresh(), range(1, 7))
    for k in (2, 4, 6):
        assert epochs_of(fresh(), range(k, 7)) == {e: run[e] for e in range(k, 7)}  # resumed at k
    assert epochs_of(fresh(), [5, 1, 3, 6, 2, 4]) == run  # any call order
    assert len({tuple(b) for b in run.values()}) == 6


def test_stream_positions_follow_each_epochs_own_alpha(long_tail):
    s = sampler(long_tail, alpha=0.0, alpha_end=1.0, alpha_schedule="cosine", max_epoch=5, seed=2)
    run = epochs_of(s, range(1, 6))
    per_epoch = [[u for b in run[e] for u in b if lang_of(u) == "en"] for e in range(1, 6)]
    # en takes 185 x 2 utterances at alpha 0 and more every epoch after; the epochs cut one unbroken stream.
    assert len(per_epoch[0]) == 370 and [len(x) for x in per_epoch] == sorted(len(x) for x in per_epoch)
    en = [u for x in per_epoch for u in x]
    assert en == s._draw(0, 0, len(en))  # the stream of en from position 0, without gaps or overlaps
    assert len(en) > 2000 and len(set(en[:1000])) == 1000 and len(set(en[1000:2000])) == 1000


def test_ddp_ranks_share_the_schedule(long_tail):
    kwargs = dict(alpha=0.0, alpha_end=1.0, alpha_schedule="linear", max_epoch=4, seed=1, world_size=2)
    a, b = (sampler(long_tail, rank=r, **kwargs).generate(1 + 3) for r in range(2))  # epoch 3, alpha 2/3
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        assert collections.Counter(map(lang_of, x)) == collections.Counter(map(lang_of, y))
        assert len(x) == 3 and not set(x) & set(y)


def test_num_iters_per_epoch_spreads_the_schedule_over_the_sampler_epochs_training_reaches(long_tail):
    # 185 batches a sampler epoch; 100 x 6 = 600 training batches are ESPnet's sampler epochs 0 .. 599 // 185 = 3.
    s = sampler(long_tail, alpha=0.0, alpha_end=1.0, alpha_schedule="linear", max_epoch=6, num_iters_per_epoch=100)
    assert len(s) == 185 and s.schedule.epochs == (0, 3)
    assert [s.schedule(e) for e in range(4)] == pytest.approx([0, 1 / 3, 2 / 3, 1])
    with pytest.raises(ValueError, match=r"lang_balanced_alpha_schedule 'linear' changes alpha per epoch of the "
                                         r"sampler \(185 batches\), but num_iters_per_epoch \(30\) x max_epoch \(6\)"):
        sampler(long_tail, alpha=0.0, alpha_end=1.0, alpha_schedule="linear", max_epoch=6, num_iters_per_epoch=30)


# ------------------------------------------------------------------------------------------ config errors
@pytest.mark.parametrize("kwargs,message", [
    (dict(alpha_schedule="linear", alpha_end=1.0), r"lang_balanced_alpha_schedule 'linear' runs from the first epoch "
                                                   r"to max_epoch, but max_epoch is not known \(got None\)"),
    (dict(alpha_schedule="cosine", alpha_end=1.5, max_epoch=12),
     r"lang_balanced_alpha_end must be a number in \[0, 1\] .*got 1\.5"),
    (dict(alpha_schedule="linear", alpha_end=-0.1, max_epoch=12),
     r"lang_balanced_alpha_end must be a number in \[0, 1\] .*got -0\.1"),
    (dict(alpha_end=1.0, max_epoch=12), r"lang_balanced_alpha_end \(1\.0\) is only read by "
                                        r"lang_balanced_alpha_schedule linear or cosine, got 'constant'"),
    (dict(alpha_schedule="linear", max_epoch=12), r"lang_balanced_alpha_schedule 'linear' needs "
                                                  r"lang_balanced_alpha_end \(the alpha of the last epoch\), got None"),
    (dict(alpha_schedule="linear", alpha_end=1.0, max_epoch=1), r"needs max_epoch >= 2, got 1"),
    (dict(alpha_schedule="step", max_epoch=12),
     r"lang_balanced_alpha_schedule must be one of \('constant', 'linear', 'cosine'\), got 'step'"),
    (dict(alpha_schedule="linear", alpha_end=1.0, max_epoch=12, epoch="max"),
     r"lang_balanced_alpha_schedule 'linear' needs lang_balanced_epoch 'corpus', got 'max'"),
])
def test_bad_schedule_options_are_config_errors_naming_option_and_value(long_tail, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sampler(long_tail, **kwargs)


def test_schedule_without_balanced_sampling_is_an_error(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    task, args = _task_args(tmp_path, ["--lang_balanced_alpha_schedule", "linear", "--lang_balanced_alpha_end", "1"])
    with pytest.raises(ValueError, match=r"lang_balanced_alpha_schedule \('linear'\) needs lang_balanced_per_language"):
        task.build_iter_factory(args, DistributedOption(distributed=False), "train")


def test_bad_schedule_on_the_command_line_or_in_yaml(tmp_path, capsys):
    from espnet_ext.tasks.asr import MultilingualASRTask

    with pytest.raises(SystemExit):
        MultilingualASRTask.get_parser().parse_args(["--lang_balanced_alpha_end", "1.5"])
    assert "argument --lang_balanced_alpha_end: must be a number in [0, 1], got '1.5'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        MultilingualASRTask.get_parser().parse_args(["--lang_balanced_alpha_schedule", "step"])
    assert "argument --lang_balanced_alpha_schedule: invalid choice: 'step'" in capsys.readouterr().err
    # YAML values skip argparse's types and choices: the task checks them at start-up.
    for body, message in [
        ("lang_balanced_alpha_schedule: linear\nlang_balanced_alpha_end: 1.5\n",
         r"lang_balanced_alpha_end must be a number in \[0, 1\].*got 1\.5"),
        ("lang_balanced_alpha_schedule: step\n", r"lang_balanced_alpha_schedule must be one of .*got 'step'"),
        ("lang_balanced_alpha_end: 1\n", r"lang_balanced_alpha_end \(1\) is only read by .*got 'constant'"),
        ("lang_balanced_alpha_schedule: cosine\nlang_balanced_alpha_end: 1\nmax_epoch: null\n",
         r"lang_balanced_alpha_schedule 'cosine' runs from the first epoch to max_epoch, but max_epoch is not known"),
    ]:
        conf = tmp_path / "conf.yaml"
        conf.write_text("lang_balanced_per_language: 1\n" + body)
        args = MultilingualASRTask.get_parser().parse_args(["--config", str(conf)])
        with pytest.raises(ValueError, match=message):
            MultilingualASRTask.check_sampling_args(args)


# ------------------------------------------------------------------------------------------ task wiring
def test_task_takes_the_schedule_and_logs_every_epochs_alpha(tmp_path, caplog):
    from espnet2.train.distributed_utils import DistributedOption

    task, args = _task_args(tmp_path, ["--lang_balanced_per_language", "2", "--max_epoch", "5",
                                       "--lang_balanced_alpha_schedule", "cosine", "--lang_balanced_alpha_end", "1"])
    assert (args.lang_balanced_alpha, args.lang_balanced_alpha_schedule, args.lang_balanced_alpha_end) == \
        (0.0, "cosine", 1.0)
    factory = task.build_iter_factory(args, DistributedOption(distributed=False), "train")
    assert factory.sampler.schedule == AlphaSchedule(0.0, 1.0, "cosine", max_epoch=5)
    with caplog.at_level(logging.INFO):
        first, last = ([collections.Counter(LANGS[i] for i in batch["lang"].reshape(-1).tolist())
                        for _, batch in factory.build_iter(epoch)] for epoch in (1, 5))
        factory.build_iter(5)  # the same epoch again: no second line
    assert first and all(c == {"en": 2, "fr": 2, "zh": 2} for c in first)  # alpha 0: balanced
    assert last and all(c["en"] == 4 for c in last)  # alpha 1: en gets 6 x 10 / 15 = 4 slots of every batch
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("balanced sampling: epoch")]
    assert lines == ["balanced sampling: epoch 1 at lang_balanced_alpha 0.0000 (cosine 0 -> 1 over epochs 1..5); "
                     "language shares en 0.333, fr 0.333, zh 0.333",
                     "balanced sampling: epoch 5 at lang_balanced_alpha 1.0000 (cosine 0 -> 1 over epochs 1..5); "
                     "language shares en 0.667, fr 0.267, zh 0.067"]


def test_task_passes_num_iters_per_epoch(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    # 15 utterances, 2 per language: 3 batches a sampler epoch; 2 x 6 = 12 training batches: sampler epochs 0 .. 3.
    task, args = _task_args(tmp_path, ["--lang_balanced_per_language", "2", "--max_epoch", "6",
                                       "--num_iters_per_epoch", "2", "--lang_balanced_alpha_schedule", "linear",
                                       "--lang_balanced_alpha_end", "1"])
    factory = task.build_iter_factory(args, DistributedOption(distributed=False), "train")
    assert len(factory.sampler) == 3 and factory.sampler.schedule.epochs == (0, 3)


def test_sched_conf_is_the_a2_conf_with_the_schedule():
    from espnet_ext.tasks.asr import MultilingualASRTask

    conf = REPO / "conf/tuning/train_a2_bs_dual_adapters_adjust_train_sched_cpu.yaml"
    base = yaml.safe_load((REPO / "conf/tuning/train_a2_bs_dual_adapters_adjust_train_cpu.yaml").read_text())
    variant = yaml.safe_load(conf.read_text())
    schedule = {k: variant.pop(k) for k in ("lang_balanced_alpha", "lang_balanced_alpha_schedule",
                                            "lang_balanced_alpha_end")}
    assert schedule == {"lang_balanced_alpha": 0.0, "lang_balanced_alpha_schedule": "linear",
                        "lang_balanced_alpha_end": 1.0} and variant == base  # the documented difference
    rows = [line.split("\t") for line in (REPO / "conf/a2_rows.tsv").read_text().splitlines()]
    assert ["a2_sched", "tuning/" + conf.name, "-"] in rows
    # The task reads the conf's schedule (tests/test_conf_dry_run.py builds the model from it); the command line
    # wins over the YAML, as for every ESPnet option (ESPnet writes the result to config.yaml).
    args = MultilingualASRTask.get_parser().parse_args(["--config", str(conf), "--lang_balanced_alpha_schedule",
                                                        "cosine"])
    MultilingualASRTask.check_sampling_args(args)
    assert (args.lang_balanced_alpha, args.lang_balanced_alpha_schedule, args.lang_balanced_alpha_end,
            args.max_epoch) == (0.0, "cosine", 1.0, 12)
