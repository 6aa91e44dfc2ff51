"""espnet_ext.text.normalizer: each step, the specs (strings, presets, dicts) and their errors, exact strings in
Latin, Cyrillic, Greek, Turkish and Chinese text."""

import pytest

from espnet_ext.text.cv_normalize import normalize as cv_normalize
from espnet_ext.text.normalizer import PRESETS, STEPS, TranscriptNormalizer


def norm(spec, text, lang=None):
    return TranscriptNormalizer.from_spec(spec)(text, lang)


@pytest.mark.parametrize("text, expected", [
    ("Hello, World!", "hello world"),
    ("  Two   spaces\tand a tab ", "two spaces and a tab"),
    ("Don’t stop — “rock ’n’ roll”", "don't stop rock n roll"),  # typographic apostrophes and quotes
    ("L'homme qu'il a vu", "l'homme qu'il a vu"),  # apostrophes inside words are kept
    ("'Tis the 'end'", "tis the end"),  # at a word edge they are quotes
    ("peut-être, c'est ça.", "peut être c'est ça"),
    ("Привет, Мир! Ёлка", "привет мир ёлка"),  # Cyrillic lower-cased
    ("ΟΔΟΣ ΣΟΦΟΣ", "οδος σοφος"),  # Greek final sigma
    ("ＡＢＣ　１２３", "abc 123"),  # NFKC: full-width letters, digits and the ideographic space
    ("ﬁne", "fine"),  # NFKC splits the ligature
    ("50% off #1 a/b", "50 off 1 a b"),  # % # / are Unicode punctuation (Po)
    ("5 $ + 3 € = 8°", "5 $ + 3 € = 8°"),  # symbols (S*) are kept by default
])
def test_default_spec(text, expected):
    assert norm("default", text) == expected
    assert norm(None, text) == expected  # no spec: the default


@pytest.mark.parametrize("text, expected", [
    ("你好，世界！", "你好 世界"),  # without the language rule the marks leave a space, characters stay unsplit
    ("我们在《北京》见面。", "我们在 北京 见面"),
    ("今天天气很好", "今天天气很好"),
])
def test_chinese_is_not_split_or_cased_wrongly(text, expected):
    assert norm("default", text, "zh") == expected


@pytest.mark.parametrize("text, expected", [
    ("你好，世界！", "你好世界"),
    ("我用 iPhone X 拍的。", "我用iphone x拍的"),  # the Latin words keep their space, no space next to Chinese
    ("一 二 三", "一二三"),
])
def test_language_rule_joins_chinese(text, expected):
    assert norm("nfkc,lower,punct,lang,space", text, "zh") == expected
    assert norm("nfkc,lower,punct,lang,space", text, "en") == norm("default", text)  # other languages: no change


def test_turkish_casing_needs_the_language_rule():
    assert norm("default", "İSTANBUL IRMAK") == "i\u0307stanbul irmak"  # Python's rule: i + combining dot
    assert norm("nfkc,lower,punct,lang,space", "İSTANBUL IRMAK", "tr") == "istanbul ırmak"
    assert norm("nfkc,lower,punct,lang,space", "İSTANBUL IRMAK", "en") == "i\u0307stanbul irmak"
    assert norm("nfkc,upper,punct,lang,space", "istanbul ırmak", "tr") == "İSTANBUL IRMAK"
    assert norm("nfkc,upper,punct,space", "istanbul ırmak", "tr") == "ISTANBUL IRMAK"


def test_each_step_alone():
    text = "Ｌ’Été,  «déjà» +1 €\x07"
    assert norm("none", text) == text
    assert norm("nfkc", text) == "L’Été,  «déjà» +1 €\x07"
    assert norm("punct", text) == "Ｌ'Été    déjà  +1 €\x07"  # each mark becomes one space
    assert norm("punct,drop_apostrophes", text) == "Ｌ Été    déjà  +1 €\x07"
    assert norm("symbols", text) == "Ｌ’Été,  «déjà»  1  \x07"
    assert norm("lower", text) == "ｌ’été,  «déjà» +1 €\x07"
    assert norm("upper", text) == "Ｌ’ÉTÉ,  «DÉJÀ» +1 €\x07"
    assert norm("space", text) == "Ｌ’Été, «déjà» +1 €"  # the control character counts as whitespace
    assert norm("nfkc,lower,punct,drop_apostrophes,symbols,space", text) == "l été déjà 1"


def test_empty_after_normalisation():
    assert norm("default", "¿?! … —") == ""
    assert norm("default", "") == ""


@pytest.mark.parametrize("text, lang", [
    ("Hello, World!", "en"), ("Don’t stop “now”.", "en"), ("L'homme, peut-être ?", "fr"),
    ("你好，世界！", "zh"), ("我用 iPhone X 拍的。", "zh"), ("İstanbul’da ırmak.", "tr"), ("Привет, мир!", "ru"),
    ("ＡＢＣ　１２３ 5$", "en"),
])
def test_cv_preset_reproduces_cv_normalize(text, lang):
    assert norm("cv", text, lang) == cv_normalize(text, lang)


def test_spec_is_canonical_and_round_trips():
    n = TranscriptNormalizer.from_spec(" space, punct ,lower,nfkc")
    assert n.spec == "nfkc,punct,lower,space" == TranscriptNormalizer.from_spec("default").spec
    assert TranscriptNormalizer.from_spec("none").spec == "none"
    for preset in PRESETS:
        n = TranscriptNormalizer.from_spec(preset)
        assert TranscriptNormalizer.from_spec(n.spec).describe() == n.describe()
    assert TranscriptNormalizer.from_spec(n) is n
    assert repr(TranscriptNormalizer.from_spec("cv")) == "TranscriptNormalizer('nfkc,punct,symbols,upper,lang,space')"


def test_dict_spec():
    n = TranscriptNormalizer.from_spec({"case": None, "keep_apostrophes": False})
    assert n.spec == "nfkc,punct,drop_apostrophes,space"
    assert n("Don't, Stop") == "Don t Stop"
    assert TranscriptNormalizer.from_spec({}).spec == PRESETS["default"].replace("lower,punct", "punct,lower")


@pytest.mark.parametrize("spec, message", [
    ("lowr,punct", "normalizer spec 'lowr,punct': unknown step 'lowr' (valid steps: " + ", ".join(STEPS)),
    ("Lower", "unknown step 'Lower'"),
    ("lower,punct,nfkc,cv", "the preset 'cv' cannot be combined with other steps"),
    ("lower,upper", "'lower' and 'upper' exclude each other"),
    ("lower,drop_apostrophes", "'drop_apostrophes' needs 'punct'"),
    ("lower,lower", "step(s) lower given twice"),
    (" , ", "names no step; give 'none' for the text as given"),
    ({"lowercase": True}, "unknown key(s) lowercase; valid keys: nfkc, case, punctuation, keep_apostrophes"),
    ({"case": "title"}, "case must be 'lower', 'upper' or None, got 'title'"),
    ({"nfkc": "yes"}, "nfkc must be true or false, got 'yes'"),
    (3, "normalizer spec must be a string or a mapping, got int"),
])
def test_bad_specs_name_the_valid_ones(spec, message):
    with pytest.raises(ValueError) as e:
        TranscriptNormalizer.from_spec(spec)
    assert message in str(e.value)
    if isinstance(spec, str) and "unknown step" in message:
        assert "presets: default = nfkc,lower,punct,space, cv = " in str(e.value)
