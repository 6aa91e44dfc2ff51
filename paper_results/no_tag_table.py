"""Decoding without a language tag (issue 20, docs/lid_routing.md): CER per language, average and LID accuracy of
one model decoded with ``oracle``, ``hard`` and ``soft`` adapter routing.

    python -m paper_results.no_tag_table --out egs/synth_longtail/asr1/results/no_tag.json \\
        oracle=exp/benchmark/asr_X/decode_oracle/test hard=exp/benchmark/asr_X/decode_hard/test \\
        soft=exp/benchmark/asr_X/decode_soft/test

Each DIR is a decode dir scored by stage 7: ``results.json`` of ``espnet_ext.bin.score_cer`` and ``lid.json``
of ``espnet_ext.bin.lid_report``.  Writes ``--out`` as ``{row: {column: number}}`` (rows ``oracle``, ``hard``,
``soft``; columns the languages in the order of the oracle decoding's results.json, ``avg`` = the unweighted
mean over those languages as ``score_cer``'s average, and ``lid_acc``; CER and accuracy in %), which
``paper_results.seed_summary --field ""`` reads; a ``.md`` table and a ``.png`` of grouped bars beside it.
``lid_acc`` is the accuracy of the language the adapters were routed to: 100 for ``oracle`` by construction.
The issue's goal: ``soft`` within +1.0 point of ``oracle`` on ``avg``, and ``lid_acc`` >= 95 %.

With ``--text`` and ``--utt2lang`` (the decoded set's references and languages) the ``.md`` also splits
soft − oracle: the gap if soft's misrouted utterances (its ``lang`` file names another language) had been
decoded as ``oracle`` decoded them (what soft routing costs where the head is right), and the rest (what the
misrouted utterances cost).  A few misrouted utterances can dominate the gap: one short zh utterance decoded
as a long Latin-script string adds hundreds of percent to its language's CER.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

from espnet_ext.fileio.kaldi_map import read_kaldi_map
from espnet_ext.utils.cli import cli_main, named_paths
from espnet_ext.utils.error_rate import score
from espnet_ext.utils.model_comparison import read_cer
from paper_results.a2_results_table import plot as plot_cer_bars

ROWS = ("oracle", "hard", "soft")
#: Issue 20's goals: soft's average CER at most this many points above oracle's, and LID accuracy (%) at least.
GOAL_SOFT_MINUS_ORACLE = 1.0
GOAL_LID_ACC = 95.0

Table = Dict[str, Dict[str, float]]


def read_lid_acc(decode_dir: Path) -> float:
    """``lid_acc`` (%) of the ``lid.json`` that lid_report wrote into ``decode_dir``."""
    path = Path(decode_dir) / "lid.json"
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["lid_acc"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no LID report (stage 7 writes it for a model with a LID head; or run "
                                f"python -m espnet_ext.bin.lid_report)") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a lid.json of espnet_ext.bin.lid_report ({e})") from None


def no_tag_table(dirs: Dict[str, Path]) -> Table:
    """{row: {language..., avg, lid_acc}} for the decode dirs of ``oracle``, ``hard`` and ``soft`` (in that
    order); every row must be scored on the languages of the oracle row, or the averages would not compare."""
    if set(dirs) != set(ROWS):
        raise ValueError(f"need exactly the decode dirs {', '.join(f'{r}=DIR' for r in ROWS)}; got "
                         f"{', '.join(dirs) or 'none'}")
    table: Table = {}
    languages: List[str] = []
    for row in ROWS:
        results = Path(dirs[row]) / "results.json"
        cer = read_cer(results)
        if row == ROWS[0]:
            languages = list(cer)
        elif set(cer) != set(languages):
            raise ValueError(f"{results}: scored on languages {' '.join(sorted(cer))}, but the {ROWS[0]} decoding "
                             f"on {' '.join(sorted(languages))}: not the same test set")
        if not languages:
            raise ValueError(f"{results}: no language scored")
        table[row] = {lang: cer[lang] for lang in languages}
        table[row]["avg"] = round(sum(cer.values()) / len(cer), 2)
        table[row]["lid_acc"] = read_lid_acc(dirs[row])
    return table


def misrouting_split(dirs: Dict[str, Path], text: Path, utt2lang: Path) -> Dict[str, float]:
    """soft − oracle on the average CER, split by soft's misrouted utterances (see the module docstring):
    {utterances, misrouted, gap, gap_routed_right, gap_misrouted}; gap = gap_routed_right + gap_misrouted."""
    refs = read_kaldi_map(text)
    langs = read_kaldi_map(utt2lang)
    hyps = {row: read_kaldi_map(Path(dirs[row]) / "1best_recog" / "text", allow_empty_value=True)
            for row in ("oracle", "soft")}
    chosen_path = Path(dirs["soft"]) / "lang"
    chosen = {utt: value.split()[0] for utt, value in read_kaldi_map(chosen_path).items()}
    missing = sorted(set(refs) - set(chosen))
    if missing:
        raise ValueError(f"{chosen_path}: no language chosen for utterance '{missing[0]}' of {text} "
                         f"({len(missing)} such): not the decoding of that set")
    misrouted = {utt for utt in refs if chosen[utt] != langs.get(utt)}
    right = {utt: hyps["oracle" if utt in misrouted else "soft"].get(utt, "") for utt in refs}
    oracle, soft, fixed = (score(refs, h, langs).average_cer for h in (hyps["oracle"], hyps["soft"], right))
    return {"utterances": len(refs), "misrouted": len(misrouted), "gap": round(soft - oracle, 2),
            "gap_routed_right": round(fixed - oracle, 2), "gap_misrouted": round(soft - fixed, 2)}


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def markdown(table: Table, dirs: Optional[Dict[str, Path]] = None, title: str = "",
             split: Optional[Dict[str, float]] = None) -> str:
    columns = list(next(iter(table.values())))
    lines = [f"### {title}", ""] if title else []
    lines += ["| routing | " + " | ".join(columns) + " |", "|---" + "|---:" * len(columns) + "|"]
    for row, values in table.items():
        lines.append(f"| {row} | " + " | ".join(f"{values[c]:.2f}" for c in columns) + " |")
    soft, oracle = table["soft"], table["oracle"]
    delta = soft["avg"] - oracle["avg"]
    lines += ["", "CER (%) per language and its unweighted mean over languages (avg); lid_acc: accuracy (%) of the "
              "language the adapters were routed to (100 for oracle by construction).", "",
              f"soft − oracle on avg: {_signed(delta)} points (goal ≤ {_signed(GOAL_SOFT_MINUS_ORACLE)}: "
              f"{'met' if delta <= GOAL_SOFT_MINUS_ORACLE else 'not met'}); soft LID accuracy {soft['lid_acc']:.2f} % "
              f"(goal ≥ {GOAL_LID_ACC:.0f} %: {'met' if soft['lid_acc'] >= GOAL_LID_ACC else 'not met'})."]
    if split:
        lines += ["", f"Of soft − oracle ({_signed(split['gap'])}, rescored from the hypotheses), "
                  f"{_signed(split['gap_misrouted'])} comes from the {split['misrouted']} of {split['utterances']} "
                  f"utterances soft routed to another language and {_signed(split['gap_routed_right'])} from the "
                  "rest (their soft hypotheses against oracle's)."]
    if dirs:
        lines += ["", "Decode dirs: " + "; ".join(f"{row}: `{dirs[row]}`" for row in table)]
    return "\n".join(lines) + "\n"


@cli_main()
def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dirs", nargs="+", help="oracle=DIR hard=DIR soft=DIR: decode dirs scored by stage 7")
    p.add_argument("--out", type=Path, required=True, help="the JSON table (.md and .png beside it)")
    p.add_argument("--title", default="")
    p.add_argument("--text", type=Path, help="references of the decoded set (with --utt2lang: split the gap)")
    p.add_argument("--utt2lang", type=Path, help="languages of the decoded set's utterances")
    args = p.parse_args(argv)
    if args.out.suffix != ".json":
        p.error(f"--out {args.out}: give the .json path (the .md and .png go beside it)")
    if (args.text is None) != (args.utt2lang is None):
        p.error("--text and --utt2lang go together (the references and their languages)")
    dirs = named_paths(args.dirs, p, "ROUTING=DECODE_DIR", "routing")
    table = no_tag_table(dirs)
    split = misrouting_split(dirs, args.text, args.utt2lang) if args.text else None
    text = markdown(table, dirs, args.title, split)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    languages = [c for c in table["oracle"] if c not in ("avg", "lid_acc")]
    bars = {f"{row} (LID {values['lid_acc']:.1f} %)": {lang: values[lang] for lang in languages}
            for row, values in table.items()}
    plot_cer_bars(bars, {}, {"languages": tuple(languages)}, args.out.with_suffix(".png"))
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
