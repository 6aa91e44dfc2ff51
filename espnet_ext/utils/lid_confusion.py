"""Language-identification accuracy and confusion matrix of a decoding (stage 7; docs/lid_routing.md).

The input is the ``lang`` file that ``espnet_ext.bin.asr_inference`` writes for a model with a LID head
(``utt language posterior``: the language the adapters were routed to and its LID posterior; merged over the
decoding jobs by ``split_merge merge``) and the test set's ``utt2lang``.  Under ``oracle`` routing the routed
language is the tag itself, so the accuracy is 100 % by construction; ``hard`` and ``soft`` give the head's own.

Accuracy is over utterances (``lid_acc``, %); ``macro_lid_acc`` is the unweighted mean of the per-language
accuracies, the figure that a long-tailed test set's head languages cannot dominate.  The confusion matrix has
one row per reference language and one column per predicted language, in the order of ``languages`` (the
inventory given, else the languages seen in either file, sorted).

With the set's ``utt2spk`` the report also gives the accuracy per speaker (``per_speaker``, worst first in the
markdown): a head whose errors gather on a few speakers has learnt the training voices along with the languages
(docs/lid_routing.md, "Unseen voices"); a speaker missing for a decoded utterance is an error naming the file.

An utterance decoded but not in ``utt2lang`` (a decoding of another set) is an error naming the file, its line
and the utterance, as are a malformed line, a language outside the inventory, and a ``utt2lang`` none of whose
utterances has a LID output (a model without a LID head).  An utterance of ``utt2lang`` without a LID output
when others have one (too short for the encoder: ``asr_inference`` writes an empty hypothesis and no language)
counts as a LID error, as its empty hypothesis counts in the CER; the report gives their number
(``num_no_output``, per language ``no_output``).  Nothing is written when an input is wrong, and each output
file is replaced whole (:func:`write_lid_report`).
"""

import json
import math
import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from espnet_ext.fileio.kaldi_map import DataDirError, read_kaldi_map

def _check_language(path: Path, lineno: int, utt: str, lang: str, languages: Optional[Sequence[str]]) -> None:
    if languages is not None and lang not in languages:
        raise DataDirError(f"{path}:{lineno}: utterance '{utt}' has language '{lang}', not one of "
                           f"--languages ({' '.join(languages)})")


def read_lid_output(path: Path, languages: Optional[Sequence[str]] = None) -> Dict[str, Tuple[str, float]]:
    """{utt: (language, posterior)} of an ``asr_inference`` ``lang`` file; errors name file, line and utterance.

    ``read_kaldi_map`` refuses blank lines and duplicate keys, so the n-th entry is the file's line n."""
    out = {}
    for lineno, (utt, value) in enumerate(read_kaldi_map(path).items(), 1):
        fields = value.split()
        if len(fields) != 2:
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}': expected 'utt language posterior', got "
                               f"'{utt} {value}'")
        try:
            posterior = float(fields[1])
        except ValueError:
            posterior = math.nan
        if not 0.0 <= posterior <= 1.0:  # also NaN
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}': posterior '{fields[1]}' is not a number in [0, 1]")
        _check_language(path, lineno, utt, fields[0], languages)
        out[utt] = (fields[0], posterior)
    return out


def read_reference(path: Path, languages: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """{utt: language} of an ``utt2lang`` file; a line with more than one language is an error."""
    out = {}
    for lineno, (utt, value) in enumerate(read_kaldi_map(path).items(), 1):
        if len(value.split()) != 1:
            raise DataDirError(f"{path}:{lineno}: utterance '{utt}': expected 'utt language', got '{utt} {value}'")
        _check_language(path, lineno, utt, value, languages)
        out[utt] = value
    return out


def _first_missing(have: Dict, want: Dict, path: Path) -> Optional[str]:
    """'<path>:<line>: utterance ...' for the first key of ``have`` (read from ``path``) not in ``want``."""
    missing = [(n, utt) for n, utt in enumerate(have, 1) if utt not in want]
    if not missing:
        return None
    lineno, utt = missing[0]
    more = f" ({len(missing)} such utterances)" if len(missing) > 1 else ""
    return f"{path}:{lineno}: utterance '{utt}'{more}"


def check_same_utterances(hyp: Dict, hyp_path: Path, ref: Dict, ref_path: Path) -> None:
    """Raise naming file, line and utterance unless ``hyp`` and ``ref`` hold the same utterances."""
    extra = _first_missing(hyp, ref, hyp_path)
    if extra:
        raise DataDirError(f"{extra} has no reference language in {ref_path} (a decoding of another set?)")
    if ref and not any(utt in hyp for utt in ref):
        raise DataDirError(f"{_first_missing(ref, hyp, ref_path)} has no LID output in {hyp_path}, nor has any "
                           f"utterance of the set (decoded by a model without a LID head?)")


def _percent(correct: int, total: int) -> Optional[float]:
    return round(100.0 * correct / total, 2) if total else None


def lid_summary(ref: Dict[str, str], hyp: Dict[str, str], languages: Optional[Sequence[str]] = None) -> dict:
    """Accuracy and confusion matrix of ``hyp`` {utt: language} against ``ref`` over the utterances of ``ref``
    (one missing from ``hyp`` counts as wrong: no output), as a JSON-ready dict: ``lid_acc`` and
    ``macro_lid_acc`` (%), ``num_utts``, ``num_correct``, ``num_no_output``, ``languages``, ``per_language``
    {lang: {utts, correct, acc, no_output}} (acc None for a language without reference utterances),
    ``confusion`` {ref: {hyp: count}} with every language in both (utterances without output in no column)."""
    langs = list(languages) if languages is not None else sorted(set(ref.values()) | set(hyp.values()))
    unknown = sorted((set(ref.values()) | {hyp[u] for u in ref if u in hyp}) - set(langs))
    if unknown:
        raise ValueError(f"languages {' '.join(unknown)} are not among the languages given ({' '.join(langs)})")
    confusion = {r: {h: 0 for h in langs} for r in langs}
    no_output = {r: 0 for r in langs}
    for utt, lang in ref.items():
        if utt in hyp:
            confusion[lang][hyp[utt]] += 1
        else:
            no_output[lang] += 1
    per_language = {}
    for lang in langs:
        utts = sum(confusion[lang].values()) + no_output[lang]
        per_language[lang] = {"utts": utts, "correct": confusion[lang][lang],
                              "acc": _percent(confusion[lang][lang], utts), "no_output": no_output[lang]}
    correct = sum(p["correct"] for p in per_language.values())
    accs = [p["acc"] for p in per_language.values() if p["acc"] is not None]
    return {"lid_acc": _percent(correct, len(ref)), "macro_lid_acc": round(sum(accs) / len(accs), 2) if accs else None,
            "num_utts": len(ref), "num_correct": correct, "num_no_output": sum(no_output.values()),
            "languages": langs, "per_language": per_language, "confusion": confusion}


def per_speaker_accuracy(ref: Dict[str, str], hyp: Dict[str, str], utt2spk: Dict[str, str]) -> Dict[str, dict]:
    """{speaker: {utts, correct, acc}} over the utterances of ``ref`` (one missing from ``hyp`` is wrong),
    speakers in the order of their accuracy, worst first (ties by name)."""
    counts: Dict[str, List[int]] = {}
    for utt, lang in ref.items():
        entry = counts.setdefault(utt2spk[utt], [0, 0])
        entry[0] += 1
        entry[1] += int(hyp.get(utt) == lang)
    table = {spk: {"utts": n, "correct": c, "acc": _percent(c, n)} for spk, (n, c) in counts.items()}
    return dict(sorted(table.items(), key=lambda item: (item[1]["acc"], item[0])))


def _read_speakers(path: Path, ref: Dict[str, str], ref_path: Path) -> Dict[str, str]:
    utt2spk = read_kaldi_map(path)
    missing = [utt for utt in ref if utt not in utt2spk]
    if missing:
        more = f" ({len(missing)} such utterances)" if len(missing) > 1 else ""
        raise DataDirError(f"{ref_path}: utterance '{missing[0]}'{more} has no speaker in {path}")
    return utt2spk


def load_lid_summary(hyp_path: Path, ref_path: Path, languages: Optional[Sequence[str]] = None,
                     utt2spk_path: Optional[Path] = None) -> dict:
    """Read and check both files (errors name file, line and utterance), then :func:`lid_summary`; the
    summary also gives ``mean_posterior``, the mean LID posterior of the routed languages, and with
    ``utt2spk_path`` ``per_speaker`` (:func:`per_speaker_accuracy`)."""
    if languages is not None and len(set(languages)) != len(languages):
        raise ValueError(f"--languages names a language twice: {' '.join(languages)}")
    hyp = read_lid_output(Path(hyp_path), languages)
    ref = read_reference(Path(ref_path), languages)
    if not ref:
        raise DataDirError(f"{ref_path}: no utterances")
    check_same_utterances(hyp, Path(hyp_path), ref, Path(ref_path))
    utt2spk = _read_speakers(Path(utt2spk_path), ref, Path(ref_path)) if utt2spk_path is not None else None
    routed = {utt: lang for utt, (lang, _) in hyp.items()}
    summary = lid_summary(ref, routed, languages)
    summary["mean_posterior"] = round(sum(p for _, p in hyp.values()) / len(hyp), 4)
    if utt2spk is not None:
        summary["per_speaker"] = per_speaker_accuracy(ref, routed, utt2spk)
    return summary


def _cell(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f}"


def markdown(summary: dict, title: str = "") -> str:
    """Per-language accuracy, then the confusion matrix (rows: reference, columns: predicted)."""
    langs = summary["languages"]
    lines = [f"### {title}", ""] if title else []
    posterior = summary.get("mean_posterior")
    posterior = "" if posterior is None else f"; mean posterior of the routed language {posterior:.3f}"
    lines += [f"LID accuracy: **{_cell(summary['lid_acc'])} %** ({summary['num_correct']}/{summary['num_utts']} "
              f"utterances; mean over languages {_cell(summary['macro_lid_acc'])} %{posterior}).", "",
              *([f"{summary['num_no_output']} utterance(s) have no LID output (too short for the encoder) and count "
                 "as wrong.", ""] if summary.get("num_no_output") else []),
              "| language | #utts | correct | LID acc (%) |", "|---|---:|---:|---:|"]
    for lang, p in summary["per_language"].items():
        lines.append(f"| {lang} | {p['utts']} | {p['correct']} | {_cell(p['acc'])} |")
    lines += ["", "Confusion matrix (rows: reference language, columns: predicted):", "",
              "| ref \\ hyp | " + " | ".join(langs) + " |", "|---" + "|---:" * len(langs) + "|"]
    for ref_lang in langs:
        lines.append(f"| {ref_lang} | " + " | ".join(str(summary["confusion"][ref_lang][h]) for h in langs) + " |")
    if summary.get("per_speaker"):
        lines += ["", "LID accuracy per speaker (worst first):", "", "| speaker | #utts | correct | LID acc (%) |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {spk} | {p['utts']} | {p['correct']} | {_cell(p['acc'])} |"
                  for spk, p in summary["per_speaker"].items()]
    return "\n".join(lines) + "\n"


def plot_confusion(summary: dict, png: Path, title: str = "") -> None:
    """Heat map of the confusion matrix: colour = share of the reference language's utterances (so a small
    language's errors show as clearly as a large one's), text = counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    langs = summary["languages"]
    counts = np.array([[summary["confusion"][r][h] for h in langs] for r in langs], dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(3.5, 0.45 * len(langs) + 1.8)
    fig, ax = plt.subplots(figsize=(size + 0.8, size))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(langs)):
        for j in range(len(langs)):
            if counts[i, j]:
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(langs)))
    ax.set_xticklabels(langs, rotation=90 if len(langs) > 8 else 0)
    ax.set_yticks(range(len(langs)))
    ax.set_yticklabels(langs)
    ax.set_xlabel("predicted language")
    ax.set_ylabel("reference language")
    ax.set_title(f"{title + ': ' if title else ''}LID accuracy {_cell(summary['lid_acc'])} %", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the reference language")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def write_lid_report(summary: dict, out_dir: Path, title: str = "") -> List[Path]:
    """``lid.md``, ``lid.json`` and ``lid_confusion.png`` in ``out_dir`` (a decode dir holding other outputs,
    so not an atomic dir of its own): every file is rendered to a temporary name first and only then renamed
    over its target, so a failure (a plotting error, a full disk) leaves the previous report as it was."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = dict(summary, title=title)
    writers: Dict[str, Callable[[Path], None]] = {
        "lid.md": lambda p: p.write_text(markdown(summary, title), encoding="utf-8"),
        "lid.json": lambda p: p.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"),
        "lid_confusion.png": lambda p: plot_confusion(summary, p, title),
    }
    # The suffix stays last: matplotlib picks the format from it.
    tmps = {name: out_dir / f".{Path(name).stem}.tmp{os.getpid()}{Path(name).suffix}" for name in writers}
    try:
        for name, write in writers.items():
            write(tmps[name])
        for name in writers:
            os.replace(tmps[name], out_dir / name)
    finally:
        for tmp in tmps.values():
            if tmp.exists():
                tmp.unlink()
    return [out_dir / name for name in writers]
