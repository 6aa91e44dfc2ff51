"""CommonVoice data prep on miniature releases in the real layout (espnet_ext.dataprep.commonvoice)."""

import json
import shutil

import pytest
import soundfile

from espnet_ext.dataprep.commonvoice import CAP_TABLES, prepare_commonvoice, resolve_caps
from espnet_ext.dataprep.datadir import validate_data_dir
from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map
from espnet_ext.text.cv_normalize import normalize
from tests.cv_helpers import make_release

SMALL = {"en": {"train": 6, "dev": 2, "test": 2}, "zh": {"train": 4, "dev": 1, "test": 1},
         "sv": {"train": 4, "dev": 1, "test": 1}}


@pytest.fixture(scope="module")
def small_release(tmp_path_factory):
    return make_release(tmp_path_factory.mktemp("cv_small"), SMALL)


def _copy(release, tmp_path):
    dst = tmp_path / "cv"
    shutil.copytree(release, dst)
    return dst


def test_release_layout_and_mp3(small_release):
    assert sorted(p.name for p in small_release.iterdir()) == ["en", "sv-SE", "zh-TW"]
    header = (small_release / "zh-TW" / "validated.tsv").read_text(encoding="utf-8").splitlines()[0].split("\t")
    assert header[:3] == ["client_id", "path", "sentence"] and "accents" in header and "locale" in header
    clip = next((small_release / "en" / "clips").glob("*.mp3"))
    info = soundfile.info(str(clip))
    assert info.samplerate == 48000 and info.channels == 1 and info.format == "MP3"


def test_prepare_splits_text_and_ids(small_release, tmp_path):
    report = prepare_commonvoice(small_release, tmp_path / "data", ["en", "zh", "sv"])
    dirs = {s: validate_data_dir(tmp_path / "data" / s, languages=["en", "zh", "sv"], check_audio=True,
                                 sample_rate=48000) for s in ("train", "dev", "test")}
    # dev/test come from the release splits; train = validated minus dev and test (ESPnet's split).
    assert {s: d.utts_per_language() for s, d in dirs.items()} == {
        "train": {"en": 6, "sv": 4, "zh": 4}, "dev": {"en": 2, "sv": 1, "zh": 1}, "test": {"en": 2, "sv": 1, "zh": 1}}
    assert not set(dirs["train"].wav.values()) & (set(dirs["dev"].wav.values()) | set(dirs["test"].wav.values()))
    train = dirs["train"]
    zh_utt = next(u for u, lang in train.utt2lang.items() if lang == "zh")
    assert "/zh-TW/clips/" in train.wav[zh_utt] and train.wav[zh_utt].endswith(".mp3")
    assert "。" not in train.text[zh_utt] and " " not in train.text[zh_utt]
    for utt, spk in train.utt2spk.items():
        assert utt.startswith(spk + "-") and spk.startswith(train.utt2lang[utt] + "-")
    assert set(train.text[u] for u, lang in train.utt2lang.items() if lang == "en") == {
        "HELLO WORLD", "GOOD NIGHT", "THE CAT SAT ON THE MAT", "DON'T STOP NOW"}
    durs = read_kaldi_map(tmp_path / "data" / "train" / "utt2dur")
    assert sorted(set(durs.values())) == ["0.300", "0.400", "0.500"]
    assert report["languages"]["en"]["train"]["utterances"] == 6
    assert json.loads((tmp_path / "data" / "report.json").read_text())["settings"]["languages"] == ["en", "zh", "sv"]


def test_missing_clip_names_clip_and_tsv_line(small_release, tmp_path):
    cv = _copy(small_release, tmp_path)
    line = (cv / "en" / "dev.tsv").read_text(encoding="utf-8").splitlines()[2]  # tsv line 3
    clip = line.split("\t")[1]
    (cv / "en" / "clips" / clip).unlink()
    with pytest.raises(DataDirError, match=rf"dev\.tsv:3: clip '{clip}' not found"):
        prepare_commonvoice(cv, tmp_path / "data", ["en"])


def test_empty_sentence_is_dropped_and_counted(small_release, tmp_path):
    cv = _copy(small_release, tmp_path)
    tsv = cv / "sv-SE" / "validated.tsv"
    lines = tsv.read_text(encoding="utf-8").splitlines()
    fields = lines[1].split("\t")
    fields[2] = " ... "  # only punctuation: empty after normalisation
    lines[1] = "\t".join(fields)
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = prepare_commonvoice(cv, tmp_path / "data", ["sv"])
    assert report["languages"]["sv"]["train"]["dropped_empty"] == 1
    assert report["languages"]["sv"]["train"]["utterances"] == 3
    assert fields[1][:-4] not in (tmp_path / "data" / "train" / "text").read_text()


def test_missing_release_dir_and_bad_options(small_release, tmp_path):
    with pytest.raises(DataDirError, match="no CommonVoice release directory for language 'ky'"):
        prepare_commonvoice(small_release, tmp_path / "d", ["ky"])
    with pytest.raises(ValueError, match="cap_table"):
        prepare_commonvoice(small_release, tmp_path / "d", ["en"], cap_table="table9")


def test_capping_is_deterministic_and_within_one_utterance(small_release, tmp_path):
    def run(seed, name):
        prepare_commonvoice(small_release, tmp_path / name, ["en"], caps={"en": 1.5}, cap_unit_seconds=1.0,
                            seed=seed)
        return read_kaldi_map(tmp_path / name / "train" / "utt2dur")

    a, b = run(3, "a"), run(3, "b")
    assert a == b
    total = sum(float(v) for v in a.values())
    assert 1.5 - 0.5 < total <= 1.5 + 1e-6  # within one (max 0.5 s) utterance of the cap
    others = [run(s, f"s{s}") for s in range(6)]
    assert any(set(o) != set(a) for o in others)  # the seed changes the selection


def test_few_shot_caps_every_language_at_five_units(small_release, tmp_path):
    report = prepare_commonvoice(small_release, tmp_path / "data", ["en", "zh", "sv"], few_shot=True,
                                 cap_unit_seconds=0.2)  # 5 units = 1.0 s
    for lang in ("en", "zh", "sv"):
        r = report["languages"][lang]["train"]
        assert r["cap_seconds"] == pytest.approx(1.0) and 0.5 < r["seconds"] <= 1.0 + 1e-6
    assert resolve_caps(["en", "sv"], few_shot=True) == {"en": 5.0, "sv": 5.0}


def test_capped_hours_follow_table6_proportions(tmp_path):
    unit = 0.25  # seconds per "hour": en 20 s ... sv 1 s
    caps = CAP_TABLES["table6"]
    counts = {lang: {"train": int(hours * unit * 1.3 / 0.3) + 3, "dev": 1, "test": 1} for lang, hours in caps.items()}
    cv = make_release(tmp_path, counts)
    report = prepare_commonvoice(cv, tmp_path / "data", list(caps), cap_unit_seconds=unit)
    kept = {lang: report["languages"][lang]["train"]["seconds"] for lang in caps}
    for lang, hours in caps.items():
        assert hours * unit - 0.5 < kept[lang] <= hours * unit + 1e-6, lang
        assert report["languages"][lang]["train"]["reached_cap"]
    total_kept, total_cap = sum(kept.values()), sum(caps.values())
    for lang, hours in caps.items():
        assert abs(kept[lang] / total_kept - hours / total_cap) < 0.012, lang
    assert caps["nl"] == 10 and CAP_TABLES["table1"]["nl"] == 15  # Table 6 vs Table 1 reading


def test_idempotent_rerun(small_release, tmp_path):
    prepare_commonvoice(small_release, tmp_path / "data", ["en"])
    (tmp_path / "data" / "train" / "text").write_text("sentinel\n")
    prepare_commonvoice(small_release, tmp_path / "data", ["en"])  # same settings: skipped
    assert (tmp_path / "data" / "train" / "text").read_text() == "sentinel\n"
    prepare_commonvoice(small_release, tmp_path / "data", ["en"], seed=1)  # new settings: redone
    assert (tmp_path / "data" / "train" / "text").read_text() != "sentinel\n"


@pytest.mark.parametrize("text,lang,expected", [
    ("Don’t stop — “now”!", "en", "DON'T STOP NOW"),
    ("İstanbul’da iki ılık şişe.", "tr", "İSTANBUL'DA İKİ ILIK ŞİŞE"),
    ("Peut-être l’homme, 12 ans ?", "fr", "PEUT ÊTRE L'HOMME 12 ANS"),
    ("困難與挑戰，是激發我們的原動力。", "zh", "困難與挑戰是激發我們的原動力"),
    ("ｉＰｈｏｎｅ 很好", "zh", "IPHONE很好"),
    ("Привет, мир!", "ru", "ПРИВЕТ МИР"),
    (" ... ", "en", ""),
])
def test_normalize(text, lang, expected):
    assert normalize(text, lang) == expected
