"""Balanced sampling (A2 "BS"): batch composition, epochs, determinism, DDP shards, errors, task wiring."""

import collections
import math
from pathlib import Path

import numpy as np
import pytest

from espnet_ext.samplers.language_balanced_batch_sampler import LanguageBalancedBatchSampler

LANGS = ["en", "fr", "zh", "sv"]
COUNTS = {"en": 10, "fr": 4, "zh": 1}  # sv has no training data


def write_utt2lang(path: Path, counts=COUNTS, as_ids: bool = False) -> Path:
    lines = []
    for lang, n in counts.items():
        for i in range(n):
            lines.append(f"{lang}-{i:03d} {LANGS.index(lang) if as_ids else lang}")
    path.write_text("\n".join(lines) + "\n")
    return path


def lang_of(utt: str) -> str:
    return utt.split("-")[0]


@pytest.fixture
def utt2lang(tmp_path):
    return write_utt2lang(tmp_path / "utt2lang")


def test_mixed_batches_hold_the_configured_count_per_language(utt2lang):
    s = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2)
    batches = s.generate(s.seed + 1)
    assert len(batches) == len(s) == math.ceil(15 / (2 * 3))  # corpus epoch over the 3 present languages
    for b in batches:
        assert collections.Counter(map(lang_of, b)) == {"en": 2, "fr": 2, "zh": 2}


def test_codes_and_integer_ids_give_the_same_batches(tmp_path):
    a = LanguageBalancedBatchSampler(write_utt2lang(tmp_path / "codes"), LANGS, per_language=2, seed=3)
    b = LanguageBalancedBatchSampler(write_utt2lang(tmp_path / "ids", as_ids=True), LANGS, per_language=2, seed=3)
    assert a.generate(5) == b.generate(5)


def test_grouped_layout_cycles_over_every_language(utt2lang):
    s = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=3, layout="grouped", accum_grad=3)
    batches = s.generate(s.seed + 1)
    assert len(batches) == len(s) == 3 * s.units
    for start in range(0, len(batches), 3):  # one optimizer update = one cycle
        cycle = batches[start:start + 3]
        assert all(len(b) == 3 and len({lang_of(u) for u in b}) == 1 for b in cycle)
        assert sorted(lang_of(b[0]) for b in cycle) == ["en", "fr", "zh"]


@pytest.mark.parametrize("epoch,units", [("corpus", math.ceil(15 / 6)), ("max", 5), ("min", 1)])
def test_epoch_definitions(utt2lang, epoch, units):
    assert len(LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, epoch=epoch)) == units


def test_accum_grad_rounds_epochs_to_whole_updates(utt2lang):
    assert len(LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, accum_grad=4)) == 4
    grouped = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, layout="grouped", accum_grad=6)
    assert grouped.units % 2 == 0 and len(grouped) % 6 == 0


def test_deterministic_per_seed_and_epoch(utt2lang):
    s = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, seed=7)
    again = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, seed=7)
    other_seed = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, seed=8)
    assert s.generate(8) == again.generate(8)
    assert s.generate(8) != s.generate(9)
    assert s.generate(8) != other_seed.generate(9)  # same epoch (1), other seed


def test_majority_language_stream_continues_across_epochs(utt2lang):
    s = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, epoch="min")  # 1 batch: 2 en per epoch
    seen = [u for e in range(1, 6) for b in s.generate(s.seed + e) for u in b if lang_of(u) == "en"]
    assert sorted(seen) == sorted(f"en-{i:03d}" for i in range(10))  # every en utterance once in 5 epochs
    zh = [u for b in s.generate(s.seed + 1) for u in b if lang_of(u) == "zh"]
    assert zh == ["zh-000", "zh-000"]  # the minority language is oversampled


def test_ddp_shards_are_disjoint_balanced_and_equally_long(utt2lang):
    full = LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=4, seed=1).generate(2)  # epoch 1
    shards = [LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=4, seed=1, rank=r, world_size=2)
              for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(full)
    per_rank = [s.generate(2) for s in shards]
    for i, batch in enumerate(full):
        a, b = per_rank[0][i], per_rank[1][i]
        assert collections.Counter(map(lang_of, a)) == collections.Counter(map(lang_of, b)) \
            == {"en": 2, "fr": 2, "zh": 2}
        assert sorted(a + b) == sorted(batch)  # together the ranks see exactly the global batch
        en_a, en_b = ({u for u in x if lang_of(u) == "en"} for x in (a, b))
        assert len(en_a) == len(en_b) == 2 and not en_a & en_b  # 8 of en's 10 in epoch 1: no repeats


def test_per_language_must_split_over_ranks(utt2lang):
    with pytest.raises(ValueError, match=r"lang_balanced_per_language \(3\) must be a multiple of the number of "
                                         r"DDP ranks \(2\)"):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=3, rank=0, world_size=2)


def test_grouped_layout_needs_accum_grad_multiple_of_languages(utt2lang):
    with pytest.raises(ValueError, match=r"accum_grad \(2\) is a multiple of the number of training languages \(3\)"):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=2, layout="grouped", accum_grad=2)


def test_unknown_language_names_the_utterance(tmp_path):
    f = tmp_path / "utt2lang"
    f.write_text("a-1 en\nb-2 de\n")
    with pytest.raises(ValueError, match=r"utterance 'b-2' has language 'de', which is not in the model's languages"):
        LanguageBalancedBatchSampler(f, LANGS, per_language=1)
    f.write_text("a-1 en\nb-2 7\n")
    with pytest.raises(ValueError, match=r"utterance 'b-2' has language '7'"):
        LanguageBalancedBatchSampler(f, LANGS, per_language=1)


def test_utterance_without_language_is_named(utt2lang):
    with pytest.raises(ValueError, match=r"utterance 'xx-1' has no language in .*utt2lang"):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=1, keys=["en-000", "xx-1"])


def test_bad_options_are_named(utt2lang):
    with pytest.raises(ValueError, match="lang_balanced_layout must be one of"):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=1, layout="shuffled")
    with pytest.raises(ValueError, match="lang_balanced_epoch must be one of"):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=1, epoch="all")
    with pytest.raises(ValueError, match="lang_balanced_per_language must be >= 1"):
        LanguageBalancedBatchSampler(utt2lang, LANGS, per_language=0)


def _task_args(tmp_path: Path, extra):
    from espnet_ext.tasks.asr import MultilingualASRTask

    d = tmp_path / "data"
    d.mkdir()
    utts = [(f"{lang}-{i:03d}", lang) for lang, n in COUNTS.items() for i in range(n)]
    rng = np.random.default_rng(0)
    import kaldiio

    shapes = []
    with kaldiio.WriteHelper(f"ark,scp:{d}/feats.ark,{d}/feats.scp") as w:
        for utt, _ in utts:
            frames = int(rng.integers(20, 40))
            w(utt, rng.standard_normal((frames, 4)).astype(np.float32))
            shapes.append(f"{utt} {frames},4\n")
    (d / "speech_shape").write_text("".join(shapes))
    (d / "text").write_text("".join(f"{u} 2 3\n" for u, _ in utts))
    (d / "utt2lid").write_text("".join(f"{u} {LANGS.index(lang)}\n" for u, lang in utts))
    data = [f"{d}/feats.scp,speech,kaldi_ark", f"{d}/text,text,text_int", f"{d}/utt2lid,lang,text_int"]
    cmd = ["--output_dir", str(tmp_path / "exp"), "--use_preprocessor", "false",
           "--model_conf", f"languages=[{','.join(LANGS)}]", "--seed", "3",
           "--train_shape_file", f"{d}/speech_shape", "--valid_shape_file", f"{d}/speech_shape"]
    for t in data:
        cmd += ["--train_data_path_and_name_and_type", t, "--valid_data_path_and_name_and_type", t]
    return MultilingualASRTask, MultilingualASRTask.get_parser().parse_args(cmd + extra)


def test_task_builds_balanced_training_batches_and_keeps_espnet_validation(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    task, args = _task_args(tmp_path, ["--lang_balanced_per_language", "2", "--valid_batch_type", "unsorted",
                                       "--valid_batch_size", "4"])
    dist = DistributedOption(distributed=False)
    train = task.build_iter_factory(args, dist, "train")
    langs = [collections.Counter(batch["lang"].reshape(-1).tolist()) for _, batch in train.build_iter(1)]
    assert langs and all(c == {0: 2, 1: 2, 2: 2} for c in langs)
    valid_keys = [k for keys, _ in task.build_iter_factory(args, dist, "valid").build_iter(1) for k in keys]
    assert sorted(valid_keys) == sorted(f"{lang}-{i:03d}" for lang, n in COUNTS.items() for i in range(n))


def test_task_requires_the_lang_data_key(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    task, args = _task_args(tmp_path, ["--lang_balanced_per_language", "1"])
    args.train_data_path_and_name_and_type = [t for t in args.train_data_path_and_name_and_type if t[1] != "lang"]
    with pytest.raises(ValueError, match="utt2lid,lang,text_int"):
        task.build_iter_factory(args, DistributedOption(distributed=False), "train")


def test_smt_keeps_espnet_random_batches(tmp_path):
    from espnet2.train.distributed_utils import DistributedOption

    task, args = _task_args(tmp_path, ["--batch_size", "5", "--batch_type", "unsorted"])
    factory = task.build_iter_factory(args, DistributedOption(distributed=False), "train")
    sizes = [len(keys) for keys, _ in factory.build_iter(1)]
    assert sorted(sizes) == [5, 5, 5]
