"""Stage g: CER per language and averaged over languages (WER where words are space-delimited).

Usage:
    python -m espnet_ext.bin.score_cer --ref dump/fbank/test/text --hyp exp/asr/decode/test/text \
        --utt2lang dump/fbank/test/utt2lang --out_dir exp/asr/decode/test [--title test] [--pinyin]

Writes results.md, results.json and cer_per_language.png in --out_dir and prints the table.
``--pinyin`` adds a toned-pinyin error rate column for Mandarin (utt2lang ``zh`` or ``cmn``; ``pinyin_er`` in
the JSON's language entry): our Mandarin speech is espeak-ng reading pinyin, so homophones sound identical
and CER well above the pinyin error rate means homophone confusions (:mod:`espnet_ext.utils.pinyin_error_rate`;
its units drop spaces).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.error_rate import ErrorCount, LanguageScores, markdown_table, score, write_results
from espnet_ext.utils.pinyin_error_rate import pinyin_error_rate

#: utt2lang tags scored in pinyin by ``--pinyin`` (Mandarin; not ``yue``, whose romanisation differs).
PINYIN_LANGUAGES = ("zh", "cmn")


def pinyin_scores(refs: Dict[str, str], hyps: Dict[str, str], utt2lang: Dict[str, str]) -> Dict[str, ErrorCount]:
    """{lang: pinyin ErrorCount} for the Mandarin languages present; a missing hypothesis counts as empty."""
    out = {}
    for lang in PINYIN_LANGUAGES:
        lang_refs = {u: r for u, r in refs.items() if utt2lang.get(u) == lang}
        if lang_refs:
            out[lang] = pinyin_error_rate(lang_refs, hyps)
    return out


def add_pinyin_column(table: str, scores: LanguageScores, pinyin: Dict[str, ErrorCount]) -> str:
    """``markdown_table``'s output with a last column ``pinyin ER (%)`` (``-`` for other languages)."""
    lines = []
    for line in table.rstrip("\n").split("\n"):
        if line.startswith("| language |"):
            line += " pinyin ER (%) |"
        elif line.startswith("|---"):
            line += "---:|"
        elif line.startswith("|"):
            lang = line.split("|")[1].strip()
            cell = f"{pinyin[lang].rate:.1f}" if lang in pinyin else ("-" if lang in scores.cer else "")
            line += f" {cell} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


@cli_main()
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", type=Path, required=True)
    p.add_argument("--hyp", type=Path, required=True)
    p.add_argument("--utt2lang", type=Path, required=True)
    p.add_argument("--out_dir", type=Path, required=True)
    p.add_argument("--title", default="CER per language")
    p.add_argument("--ignore_space", action="store_true", help="leave spaces out of CER")
    p.add_argument("--pinyin", action="store_true",
                   help="add a toned-pinyin error rate column for Mandarin (zh, cmn): homophones are not errors")
    args = p.parse_args(argv)
    refs = read_kaldi_map(args.ref)
    hyps = read_kaldi_map(args.hyp, allow_empty_value=True)
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise ValueError(f"{args.hyp}: utterance '{extra[0]}' has no reference in {args.ref}")
    utt2lang = read_kaldi_map(args.utt2lang)
    scores = score(refs, hyps, utt2lang, ignore_space=args.ignore_space)
    write_results(scores, args.out_dir, args.title)
    table = markdown_table(scores, args.title)
    if args.pinyin:
        pinyin = pinyin_scores(refs, hyps, utt2lang)
        table = add_pinyin_column(table, scores, pinyin)
        (args.out_dir / "results.md").write_text(table, encoding="utf-8")
        res = args.out_dir / "results.json"
        data = json.loads(res.read_text(encoding="utf-8"))
        for lang, count in pinyin.items():
            data["languages"][lang]["pinyin_er"] = round(count.rate, 2)
        res.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
