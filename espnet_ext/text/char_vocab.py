"""Character vocabulary of the meta-transfer paper: EN and ZH characters, space and apostrophe.

Winata et al., arXiv:2004.14228, §5.2: "Our label set has 3765 characters and includes all of the English and
Chinese characters from the corpora, spaces, and apostrophes."  The token list follows ESPnet's char
tokenizer (``espnet2.text.char_tokenizer.CharTokenizer``: every character is a token, a space becomes
``<space>``) and ESPnet's list convention: ``<blank>`` 0, ``<unk>`` 1, the characters by descending count
(ties by code point), ``<sos/eos>`` last.  Latin letters are lower-cased when ``lowercase`` (the recipe's
text normalisation must then lower-case as well); other characters (digits, punctuation) are left out and
counted, and map to ``<unk>`` at training time.

Usage: python -m espnet_ext.text.char_vocab --out data/token_list/char/tokens.txt data/*/text
"""

import argparse
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

BLANK, UNK, SOS_EOS, SPACE = "<blank>", "<unk>", "<sos/eos>", "<space>"
_KEEP = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-z' ]")


def count_chars(texts: Iterable[str], lowercase: bool = True) -> Tuple[Counter, Counter]:
    """(kept character counts, dropped character counts) over transcripts."""
    kept, dropped = Counter(), Counter()
    for text in texts:
        text = " ".join(text.split())
        if lowercase:
            text = text.lower()
        for ch in text:
            (kept if _KEEP.fullmatch(ch) else dropped)[ch] += 1
    return kept, dropped


def char_token_list(texts: Iterable[str], lowercase: bool = True, min_count: int = 1) -> List[str]:
    kept, _ = count_chars(texts, lowercase)
    chars = sorted((c for c, n in kept.items() if n >= min_count), key=lambda c: (-kept[c], c))
    if not chars:
        raise ValueError("no EN/ZH characters found in the transcripts")
    return [BLANK, UNK] + [SPACE if c == " " else c for c in chars] + [SOS_EOS]


def _transcripts(path: Path) -> Iterable[str]:
    if not path.is_file():
        raise FileNotFoundError(f"text file '{path}' does not exist")
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split(maxsplit=1)
            if len(parts) == 2:
                yield parts[1]


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Write an ESPnet char token list (EN+ZH characters, "
                                                 "<space>, apostrophe) from Kaldi text files.")
    parser.add_argument("text_files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="tokens.txt to write")
    parser.add_argument("--min_count", type=int, default=1)
    parser.add_argument("--keep_case", action="store_true", help="do not lower-case Latin letters")
    args = parser.parse_args(argv)
    texts = [t for p in args.text_files for t in _transcripts(p)]
    tokens = char_token_list(texts, lowercase=not args.keep_case, min_count=args.min_count)
    _, dropped = count_chars(texts, lowercase=not args.keep_case)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(tokens)} tokens; {sum(dropped.values())} characters left out "
          f"({''.join(sorted(dropped))[:40]})")


if __name__ == "__main__":
    main()
