"""The corpus builder on the micro config: disjoint splits, held-out voices, consistent Kaldi files,
16 kHz mono audio, determinism, idempotence; plus config validation and the shipped configs."""

import copy
import shutil
import wave
from pathlib import Path

import pytest
import yaml

from espnet_ext.bin import synth_corpus as cli
from espnet_ext.dataprep import synth_corpus as sc

pytestmark = pytest.mark.slow  # a recipe/corpus fixture of 5-140 s: not in the fast subset

REPO = Path(__file__).resolve().parents[2]
MICRO = REPO / "conf" / "corpus" / "micro.yaml"
needs_tts = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                               reason="espeak-ng/sox not installed")
# The A2 paper's Table 6: train hours per language.
TABLE6_HOURS = {"en": 80, "fr": 50, "es": 40, "it": 20, "ru": 15, "zh": 15, "tt": 15, "nl": 10, "tr": 10,
                "ky": 9, "sv": 4}


def _load(name):
    return yaml.safe_load((REPO / "conf" / "corpus" / name).read_text(encoding="utf-8"))


def _read(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ln.split(" ", 1) for ln in lines]


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    root = tmp_path_factory.mktemp("micro")
    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng/sox not installed")
    args = ["--config", str(MICRO), "--out_dir", str(root / "corpus"), "--cache_dir", str(root / "cache"),
            "--nj", "2"]
    assert cli.main(args) == 0
    return root


@needs_tts
def test_splits_have_disjoint_sentences(micro):
    texts = {s: dict(_read(micro / "corpus" / s / "text")) for s in sc.SPLITS}
    cfg = _load("micro.yaml")
    for lang, spec in cfg["languages"].items():
        per_split = {s: {t for u, t in texts[s].items() if u.startswith(lang + "-")} for s in sc.SPLITS}
        assert {s: len(v) for s, v in per_split.items()} == {s: spec[s] for s in sc.SPLITS}
        assert not per_split["train"] & per_split["dev"]
        assert not per_split["train"] & per_split["test"]
        assert not per_split["dev"] & per_split["test"]


@needs_tts
def test_heldout_voices_absent_from_train(micro):
    cfg = _load("micro.yaml")
    variants = {s: {spk.split("-", 1)[1] for _, spk in _read(micro / "corpus" / s / "utt2spk")} for s in sc.SPLITS}
    assert variants["train"] <= set(cfg["train_variants"])
    assert variants["dev"] | variants["test"] <= set(cfg["eval_variants"])
    assert not variants["train"] & (variants["dev"] | variants["test"])


@needs_tts
@pytest.mark.parametrize("split", sc.SPLITS)
def test_data_dir_files_consistent(micro, split):
    d = micro / "corpus" / split
    files = {name: _read(d / name) for name in ("wav.scp", "text", "utt2spk", "utt2lang", "utt2dur")}
    utts = [u for u, _ in files["wav.scp"]]
    assert utts == sorted(utts) and len(set(utts)) == len(utts)
    for name, rows in files.items():
        assert [u for u, _ in rows] == utts, name
    utt2spk = dict(files["utt2spk"])
    spk2utt = {spk: us.split() for spk, us in _read(d / "spk2utt")}
    assert list(spk2utt) == sorted(spk2utt)
    assert {u: s for s, us in spk2utt.items() for u in us} == utt2spk
    for utt, spk in utt2spk.items():
        assert utt.startswith(spk + "-")
    for utt, lang in files["utt2lang"]:
        assert utt.split("-")[0] == lang
    for _, path in files["wav.scp"]:
        assert Path(path).is_absolute() and Path(path).parent.name in {"en", "es", "ru"}
    try:
        from espnet_ext.dataprep.datadir import validate_data_dir
    except ImportError:
        return
    validate_data_dir(d, languages=["en", "es", "ru"])


@needs_tts
def test_wavs_are_16k_mono_16bit(micro):
    for utt, path in _read(micro / "corpus" / "test" / "wav.scp"):
        with wave.open(path, "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert 0.3 < w.getnframes() / 16000 < 15
    assert (micro / "corpus" / ".done").is_file()
    assert not list(micro.glob(".corpus.*"))  # no temp dir left behind


@needs_tts
def test_rebuild_is_deterministic_and_rerun_is_noop(micro):
    cfg = _load("micro.yaml")
    other = micro / "again"
    sc.build_corpus(cfg, other, nj=1, cache_dir=micro / "cache")
    for split in sc.SPLITS:
        for name in ("text", "utt2spk", "utt2lang"):
            assert (other / split / name).read_bytes() == (micro / "corpus" / split / name).read_bytes()
    first = _read(micro / "corpus" / "train" / "wav.scp")[0][1]
    assert Path(first.replace(str(micro / "corpus"), str(other))).read_bytes() == Path(first).read_bytes()
    stamp = (other / ".done").stat().st_mtime_ns
    sc.build_corpus(cfg, other, nj=1, cache_dir=micro / "cache")          # same config: no-op
    assert (other / ".done").stat().st_mtime_ns == stamp
    changed = copy.deepcopy(cfg)
    changed["languages"]["en"]["train"] = 3
    stats = sc.build_corpus(changed, other, nj=2, cache_dir=micro / "cache")  # new config: rebuilt
    assert stats["train"]["en"]["utts"] == 3
    assert len(_read(other / "train" / "text")) == 3 + 4 + 2
    # dev/test are drawn before train, so a smaller train set keeps the same test set
    assert (other / "test" / "text").read_bytes() == (micro / "corpus" / "test" / "text").read_bytes()


@needs_tts
def test_failed_build_leaves_nothing_that_looks_complete(micro, monkeypatch):
    out = micro / "broken"

    def boom(utt, path):
        raise RuntimeError("synthesis failed")
    monkeypatch.setattr(sc, "synthesize", boom)
    with pytest.raises(RuntimeError, match="synthesis failed"):
        sc.build_corpus(_load("micro.yaml"), out, nj=2, cache_dir=micro / "cache")
    assert not out.exists() and not (micro / ".broken.partial").exists()


def test_foreign_out_dir_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(RuntimeError, match="no .done marker"):
        sc.build_corpus(_load("micro.yaml"), tmp_path, nj=1, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("mutate, key", [
    (lambda c: c["languages"].update(xx={"train": 1, "dev": 1, "test": 1}), "languages.xx"),
    (lambda c: c["languages"]["en"].update(train=-1), "languages.en.train"),
    (lambda c: c["languages"]["en"].update(dev="5"), "languages.en.dev"),
    (lambda c: c["languages"]["en"].update(speed=3), "languages.en"),
    (lambda c: c.update(eval_variants=["m3", "m1"]), "eval_variants"),
    (lambda c: c.update(pitch=[80, 20]), "pitch"),
    (lambda c: c.update(max_chars=0), "max_chars"),
    (lambda c: c.update(colour="red"), "colour"),
])
def test_config_errors_name_the_key(mutate, key):
    cfg = _load("micro.yaml")
    mutate(cfg)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        sc.validate_config(cfg)


def test_too_few_sentences_names_language():
    cfg = sc.validate_config(_load("micro.yaml"))
    with pytest.raises(ValueError, match=r"languages\.en.*needs 13"):
        sc.plan_language("en", cfg["languages"]["en"], cfg, ["One sentence here.", "Another one here."])


def test_mandarin_reads_pinyin_but_transcript_stays_hanzi():
    cfg = sc.validate_config({**_load("micro.yaml"), "languages": {"zh": {"train": 2, "dev": 1, "test": 1}}})
    plan = sc.plan_language("zh", cfg["languages"]["zh"], cfg, ["我们在这里", "中华人民共和国", "新年快乐", "希望的新世纪"])
    for u in plan:
        assert u["voice"].startswith("cmn-latn-pinyin+")
        assert all(ch >= "\u4e00" for ch in u["transcript"])
        syllables = u["spoken"].split()
        assert len(syllables) == len(u["transcript"]) and all(s[-1] in "12345" for s in syllables)
    assert sc.spoken_text("新年快乐", "zh") == "xin1 nian2 kuai4 le4"


def test_missing_espeak_is_named(monkeypatch):
    monkeypatch.setattr(sc.shutil, "which", lambda tool: None)
    with pytest.raises(RuntimeError, match="apt-get install -y espeak-ng"):
        sc.check_voices(sc.validate_config(_load("micro.yaml")))


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0 and "--cache_dir" in capsys.readouterr().out


def test_shipped_configs():
    demo = sc.validate_config(_load("demo.yaml"))
    train = {lang: spec["train"] for lang, spec in demo["languages"].items()}
    assert len(train) >= 6 and max(train.values()) >= 10 * min(train.values())
    bench = sc.validate_config(_load("benchmark.yaml"))
    assert set(bench["languages"]) == set(TABLE6_HOURS)
    ratios = {bench["languages"][lang]["train"] / hours for lang, hours in TABLE6_HOURS.items()}
    assert len(ratios) == 1  # train counts proportional to Table 6 hours
    micro = sc.validate_config(_load("micro.yaml"))
    assert 2 <= len(micro["languages"]) <= 3
