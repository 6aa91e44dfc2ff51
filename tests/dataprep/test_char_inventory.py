"""The learnable Chinese side: frequent-character inventory, homophone cap, dev/test coverage repair."""

from collections import Counter

import pytest

from espnet_ext.dataprep import char_inventory as ci
from espnet_ext.dataprep import synth_corpus


def test_frequent_characters_ranks_by_count_then_code_point():
    texts = ["我们我们我", "他们 ok 他", "好"]
    # 我 3, 们 3, 他 2, 好 1: ties broken by code point (们 U+4EEC < 我 U+6211)
    assert ci.frequent_characters(texts, 3) == ["们", "我", "他"]
    assert ci.frequent_characters(texts, 10) == ["们", "我", "他", "好"]
    with pytest.raises(ValueError, match="inventory size must be >= 1"):
        ci.frequent_characters(texts, 0)


def test_homophone_cap_keeps_the_most_frequent_of_a_toned_syllable():
    # 是, 事, 市 are all shi4; 时 is shi2 (another tone, another sound for espeak-ng).
    texts = ["是是是是", "事事事", "市市", "时"]
    assert ci.toned_syllable("是") == ci.toned_syllable("事") == "shi4" != ci.toned_syllable("时")
    assert ci.frequent_characters(texts, 4, max_homophones=1) == ["是", "时"]
    assert ci.frequent_characters(texts, 4, max_homophones=2) == ["是", "事", "时"]
    assert ci.frequent_characters(texts, 4) == ["是", "事", "市", "时"]


def test_within_and_uncovered_look_at_chinese_characters_only():
    inventory = {"我", "们"}
    assert ci.within("我们 like 我", inventory) and not ci.within("我们好", inventory)
    assert ci.within("anything", None)
    counts = Counter({"我": 5, "们": 2})
    assert ci.uncovered("我们 job 好", counts, 3) == ["们", "好"]
    assert ci.uncovered("我 job", counts, 3) == []


def test_repair_coverage_swaps_uncovered_items_for_the_next_covered_spare():
    counts = ci.train_counts(["我们好", "我们好", "他"])  # 我 们 好: 2, 他: 1
    evaluation = ["我们", "他们", "好"]
    spare = iter(["他好", "们好我", "我"])
    report = ci.repair_coverage(evaluation, str, counts, 2, spare, "set x")
    assert evaluation == ["我们", "们好我", "好"]  # "他们" -> skips "他好" (他 seen once) -> "们好我"
    assert report == {"replaced": 1, "examined_spares": 2}
    assert ci.coverage_summary(evaluation, counts, 2) == {
        "train_types": 4, "eval_tokens": 6, "eval_tokens_below_min": 0, "min_train_count_of_eval_chars": 2}
    # replace() keeps what the old item had (e.g. its utterance id and voice)
    items = [{"utt": "u1", "text": "他"}]
    ci.repair_coverage(items, lambda u: u["text"], counts, 2, iter([{"text": "好"}]), "set y",
                       replace=lambda old, new: {**old, "text": new["text"]})
    assert items == [{"utt": "u1", "text": "好"}]
    with pytest.raises(ValueError, match="set z: not enough unused sentences whose Chinese characters all occur >= 2"):
        ci.repair_coverage(["他"], str, counts, 2, iter(["他他"]), "set z")


def test_synth_corpus_inventory_config_is_checked():
    base = {"seed": 1, "train_variants": ["m1"], "eval_variants": ["f1"]}
    ok = synth_corpus.validate_config({**base, "languages": {"zh": {
        "train": 2, "dev": 1, "test": 1, "inventory": {"size": 50, "max_homophones": 1}}}})
    assert ok["languages"]["zh"]["inventory"] == {"size": 50, "max_homophones": 1, "min_train_count": 0}
    with pytest.raises(ValueError, match="'languages.en.inventory': a character inventory applies to zh only"):
        synth_corpus.validate_config({**base, "languages": {"en": {"train": 1, "dev": 1, "test": 1,
                                                                   "inventory": {"size": 5}}}})
    with pytest.raises(ValueError, match="config key 'languages.zh.inventory.size' must be an integer >= 1"):
        synth_corpus.validate_config({**base, "languages": {"zh": {"train": 1, "dev": 1, "test": 1,
                                                                   "inventory": {"size": 0}}}})
    with pytest.raises(ValueError, match="'languages.zh.inventory' must be a mapping with 'size'"):
        synth_corpus.validate_config({**base, "languages": {"zh": {"train": 1, "dev": 1, "test": 1,
                                                                   "inventory": {"sise": 5}}}})


def test_plan_language_guarantees_dev_test_coverage():
    from itertools import permutations

    cfg = synth_corpus.validate_config({"seed": 3, "train_variants": ["m1", "m2"], "eval_variants": ["f1"],
                                        "languages": {"zh": {"train": 10, "dev": 2, "test": 4, "min_chars": 2,
                                                             "inventory": {"size": 20, "min_train_count": 3}}}})
    spec = cfg["languages"]["zh"]
    common = ["".join(p) for n in (2, 3) for p in permutations("我们好来", n)]  # 36 sentences of 4 characters
    rare = ["稀罕字", "奇怪了", "你们好奇", "大我们"]
    sentences = sorted(common + rare)
    without = synth_corpus.validate_config({**cfg, "languages": {"zh": {k: v for k, v in spec.items()
                                                                        if k != "inventory"}}})
    plain = synth_corpus.plan_language("zh", without["languages"]["zh"], without, sentences)
    plan = synth_corpus.plan_language("zh", spec, cfg, sentences)
    counts = ci.train_counts(u["transcript"] for u in plan if u["split"] == "train")
    evaluation = [u["transcript"] for u in plan if u["split"] != "train"]
    assert len(evaluation) == 6 and len([u for u in plan if u["split"] == "train"]) == 10
    assert all(counts[c] >= 3 for t in evaluation for c in t), (evaluation, counts)
    assert len({u["transcript"] for u in plan}) == 16  # swapped-in sentences are unused ones
    swapped = [(a["transcript"], b["transcript"]) for a, b in zip(plan, plain) if a["transcript"] != b["transcript"]]
    assert swapped == [("们来好", "大我们")]  # 大 never occurs in train: the test sentence is replaced
    # Training text and every utterance id, voice and split are those of the plan without the check.
    assert [u["transcript"] for u in plan if u["split"] == "train"] == \
        [u["transcript"] for u in plain if u["split"] == "train"]
    assert [(u["utt"], u["voice"], u["split"]) for u in plan] == [(u["utt"], u["voice"], u["split"]) for u in plain]


def test_cs_corpus_repair_keeps_utterance_ids_and_never_reuses_a_sentence():
    from espnet_ext.dataprep.synth_cs_corpus import repair_coverage

    def utt(i, split, lang, text, source=None):
        return {"utt": f"{lang}-{i}", "split": split, "lang": lang, "transcript": text, "segments": [(lang, text)],
                "source": source or text, "variant": "f1"}

    plan = [utt(0, "cs_a_train", "cs", "我们 job 好", "我们工作好"), utt(1, "cs_b_train", "cs", "我们好 job", "我们好工作"),
            utt(2, "zh_train", "zh", "我们好"), utt(3, "zh_train", "zh", "我好"),
            utt(4, "cs_test", "cs", "他们 job", "他们工作"),    # 他 unseen in training
            utt(5, "cs_dev", "cs", "我们 job", "我们工作"),
            utt(6, "zh_test", "zh", "怪们"), utt(7, "zh_dev", "zh", "好们")]
    cs_spare = iter([{"segments": [("zh", "我们好")], "source": "我们好", "transcript": "我们好"},  # a ZH train text
                     {"segments": [("zh", "好我"), ("en", "job")], "source": "好我工作", "transcript": "好我 job"}])
    zh_spare = iter(["我们好", "我们", "好好"])
    report = repair_coverage(plan, cs_spare, zh_spare, min_count=2)
    by_utt = {u["utt"]: u for u in plan}
    assert by_utt["cs-4"]["transcript"] == "好我 job" and by_utt["cs-4"]["variant"] == "f1"
    assert by_utt["cs-4"]["source"] == "好我工作"  # the spare equal to a ZH training sentence was skipped
    assert by_utt["zh-6"]["transcript"] == "我们"   # "我们好" is already used by ZH train
    assert by_utt["cs-5"]["transcript"] == "我们 job" and by_utt["zh-7"]["transcript"] == "好们"  # covered: kept
    assert (report["cs_test"]["replaced"], report["cs_dev"]["replaced"], report["zh_test"]["replaced"]) == (1, 0, 1)
    assert all(r["eval_tokens_below_min"] == 0 for r in report.values())
