"""CER per training mode and test set beside the meta-transfer paper's Tables 2 and 3 (Winata et al., arXiv:2004.14228).

    python -m paper_results.cs_results_table --feats_dir dump/cs_demo/fbank \\
        --decode_tag decode_decode_mtl_cs_valid.loss.ave \\
        --test_sets cs_test en_test zh_test --out exp/cs_demo/results/results.md \\
        only_cs=exp/cs_demo/asr_only_cs meta_en_zh_cs=exp/cs_demo/asr_meta_en_zh_cs ...

Per mode: CER on CS/EN/ZH (characters, spaces not counted: zh has none, and CS spacing at language boundaries
is a convention), MER on CS (Chinese characters + English words, :mod:`espnet_ext.utils.mixed_error_rate`),
ΔCS = CER(Only-CS) − CER(mode) in points (Table 3's ∆ is this absolute difference: 34.51 − 30.30 = 4.21),
and forgetting = CER after fine-tuning − CER before, on EN and ZH.  The paper's numbers (SEAME/CommonVoice/
HKUST, transcribed from Tables 2 and 3 of the paper, arXiv:2004.14228) stand beside ours.

After those, diagnostics the paper does not have: the toned-pinyin error rate on ZH and CS
(:mod:`espnet_ext.utils.pinyin_error_rate`; our Mandarin speech is espeak-ng reading pinyin, so CER well above
it means homophone confusions, not mishearing), and long-hyp = % of the mode's test utterances (all scored
test sets pooled) whose hypothesis is longer than 1.5 × its reference (:mod:`espnet_ext.utils.hypothesis_length`;
a looping decoder).  JSON keys per mode: ``cs cs_mer en zh`` then ``cs_pinyin zh_pinyin long_hyp``.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main
from espnet_ext.utils.error_rate import cer_ignoring_spaces
from espnet_ext.utils.hypothesis_length import long_hypothesis_share
from espnet_ext.utils.mixed_error_rate import mixed_error_rate
from espnet_ext.utils.pinyin_error_rate import pinyin_error_rate

#: A hypothesis longer than this × its reference (characters, spaces not counted) counts as looping.
LONG_HYP_RATIO = 1.5

#: Table 2 (CS test CER, %) and Table 3 (EN = CommonVoice, ZH = HKUST test CER, %); None = not reported.
PAPER = {
    "only_cs": {"cs": 34.51, "en": 66.71, "zh": 99.66},
    "joint_en_zh": {"cs": 98.29, "en": 11.84, "zh": 31.30},
    "joint_en_zh_ft": {"cs": 31.22, "en": 63.85, "zh": 78.07},
    "joint_en_cs": {"cs": 34.77, "en": None, "zh": None},
    "joint_zh_cs": {"cs": 33.93, "en": None, "zh": None},
    "joint_en_zh_cs": {"cs": 32.87, "en": 13.88, "zh": 30.46},
    "joint_en_zh_cs_ft": {"cs": 31.90, "en": 57.56, "zh": 76.20},
    "meta_en_cs": {"cs": 32.35, "en": None, "zh": None},
    "meta_zh_cs": {"cs": 31.57, "en": None, "zh": None},
    "meta_en_zh_cs": {"cs": 30.30, "en": 16.22, "zh": 31.39},
    "meta_en_zh_cs_ft": {"cs": 29.99, "en": None, "zh": None},
}
LABELS = {"only_cs": "Only CS", "joint_en_zh": "Joint (EN + ZH)", "joint_en_cs": "Joint (EN + CS)",
          "joint_zh_cs": "Joint (ZH + CS)", "joint_en_zh_cs": "Joint (EN + ZH + CS)",
          "meta_en_cs": "Meta-transfer (EN + CS)", "meta_zh_cs": "Meta-transfer (ZH + CS)",
          "meta_en_zh_cs": "Meta-transfer (EN + ZH + CS)",
          "meta_en_zh_cs_fixed": "Meta-transfer, fixed CS-b target (ablation)",
          "meta_en_zh_cs_srcgrad": "Meta-transfer (EN + ZH + CS), outer gradient of the public code"}


def score_runs(runs: Dict[str, Path], feats_dir: Path, decode_tag: str, test_sets: List[str]) -> Dict[str, dict]:
    """{mode: {cs, cs_mer, en, zh, cs_pinyin, zh_pinyin, long_hyp}} in percent (those of ``test_sets``; long_hyp
    pools all of them); a missing decoding raises naming the file."""
    out: Dict[str, dict] = {}
    for mode, exp in runs.items():
        row: dict = {}
        extra: dict = {}
        n_long = n_utts = 0
        for s in test_sets:
            key = s.split("_")[0]
            refs = read_kaldi_map(feats_dir / s / "text")
            hyp_file = exp / decode_tag / s / "text"
            if not hyp_file.is_file():
                raise FileNotFoundError(f"{hyp_file}: no decoding of {s} for mode '{mode}' (run stage 7)")
            hyps = read_kaldi_map(hyp_file, allow_empty_value=True)
            row[key] = round(cer_ignoring_spaces(refs, hyps).rate, 2)
            if key == "cs":
                row["cs_mer"] = round(mixed_error_rate(refs, hyps).rate, 2)
            if key in ("cs", "zh"):
                extra[f"{key}_pinyin"] = round(pinyin_error_rate(refs, hyps).rate, 2)
            _, count, n, _ = long_hypothesis_share(refs, hyps, LONG_HYP_RATIO)
            n_long, n_utts = n_long + count, n_utts + n
        row.update(sorted(extra.items()))  # cs_pinyin before zh_pinyin, after the older keys
        if test_sets:
            row["long_hyp"] = round(100.0 * n_long / max(n_utts, 1), 2)
        out[mode] = row
    return out


def _fmt(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.2f}"


def markdown(scores: Dict[str, dict]) -> str:
    base = scores.get("only_cs", {}).get("cs")
    lines = ["| mode | CS CER | CS MER | ΔCS | EN CER | ZH CER | EN forget | ZH forget | paper CS | paper ΔCS | "
             "paper EN | paper ZH | CS pinyin ER | ZH pinyin ER | long hyp |", "|---" * 15 + "|"]
    for mode, row in scores.items():
        stem = mode[:-3] if mode.endswith("_ft") else mode
        label = LABELS.get(stem, stem) + (" + fine-tuning" if mode.endswith("_ft") else "")
        delta = None if base is None or row.get("cs") is None else base - row["cs"]
        before = scores.get(stem, {}) if mode.endswith("_ft") else {}
        forget = {k: (row[k] - before[k]) if k in row and k in before else None for k in ("en", "zh")}
        paper = PAPER.get(mode, {})
        pdelta = None if paper.get("cs") is None else PAPER["only_cs"]["cs"] - paper["cs"]
        cells = [row.get("cs"), row.get("cs_mer"), delta, row.get("en"), row.get("zh"), forget["en"], forget["zh"],
                 paper.get("cs"), pdelta, paper.get("en"), paper.get("zh"),
                 row.get("cs_pinyin"), row.get("zh_pinyin"), row.get("long_hyp")]
        lines.append(f"| {label} | " + " | ".join(_fmt(c) for c in cells) + " |")
    note = ("\nCER in %, spaces not counted; MER: Chinese characters + English words. "
            "ΔCS = CER(Only CS) − CER(mode), points. Forget = CER after fine-tuning − before. "
            "Paper: Winata et al. (arXiv:2004.14228) Tables 2–3 on SEAME / CommonVoice EN / HKUST (– = not reported). "
            "Pinyin ER: error rate over toned pinyin syllables (English letters as they are), so homophones "
            "(same syllable and tone) are not errors; CER much above it = homophone confusions. "
            f"Long hyp: % of test utterances (all test sets) with hypothesis > {LONG_HYP_RATIO}× reference "
            "(looping decoder).\n")
    return "\n".join(lines) + "\n" + note


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="MODE=EXP_DIR (MODE as in --modes of egs/TEMPLATE/asr1/hooks/cs_multitask.sh; fine-tuned: MODE_ft)")
    p.add_argument("--feats_dir", type=Path, required=True, help="dump dir holding <test_set>/text references")
    p.add_argument("--decode_tag", required=True, help="decoding dir name inside each EXP_DIR")
    p.add_argument("--test_sets", nargs="+", default=["cs_test", "en_test", "zh_test"])
    p.add_argument("--out", type=Path, required=True, help="markdown table (a .json beside it)")
    args = p.parse_args(argv)
    runs = {}
    for item in args.runs:
        mode, sep, path = item.partition("=")
        if not sep or not mode:
            p.error(f"run '{item}' is not MODE=EXP_DIR")
        runs[mode] = Path(path)
    scores = score_runs(runs, args.feats_dir, args.decode_tag, args.test_sets)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(scores), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({"ours": scores, "paper": PAPER}, indent=1), encoding="utf-8")
    print(markdown(scores), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
